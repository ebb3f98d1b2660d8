import CKernels

/// Flattens each sample to a vector in PyTorch's (C, H, W) order, as `nn.Flatten()` does
/// on NCHW tensors. From an `hwc` input this is a per-sample transpose.
public final class Flatten: Layer {
    public let inputShape: Shape
    public let inputLayout: Layout
    public var name: String { "Flatten" }
    public var outputShape: Shape { Shape(inputShape.count, 1, 1) }
    public var outputLayout: Layout { .chw }

    public init(shape: Shape, layout: Layout) {
        inputShape = shape
        inputLayout = layout
    }

    private var isCopy: Bool {
        inputLayout == .chw || inputShape.channels == 1 || inputShape.height * inputShape.width == 1
    }

    /// In (C, H, W) order already: the network skips the copy.
    public var isIdentity: Bool { isCopy }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int) {
        let n = inputShape.count
        if isCopy { y.update(from: x, count: batch * n); return }
        dtk_transpose_each(x, y, batch, inputShape.height * inputShape.width, inputShape.channels)
    }

    public func backward(x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, batch: Int, parameterGradients: Bool) {
        guard let dx else { return }
        let n = inputShape.count
        if isCopy { dx.update(from: dy, count: batch * n); return }
        dtk_transpose_each(dy, dx, batch, inputShape.channels, inputShape.height * inputShape.width)
    }
}

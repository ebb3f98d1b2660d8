import CKernels

/// Max pooling with a k×k window and stride k (PyTorch `nn.MaxPool2d(k)`), on `hwc`
/// activations. Backward routes each dy to its window's winner, found again from x and y (the
/// first element in row-major window order equal to the maximum, or the first NaN, as in
/// PyTorch), so the layer keeps no state between the passes and any run of samples of a forward
/// pass can go backward on its own.
public final class MaxPool2d: Layer {
    public let inputShape: Shape
    public let kernel: Int
    public var name: String { "MaxPool2d(\(kernel))" }
    public var inputLayout: Layout { .hwc }
    public var outputShape: Shape {
        Shape(inputShape.channels, inputShape.height / kernel, inputShape.width / kernel)
    }

    public init(shape: Shape, kernel: Int = 2) {
        precondition(shape.height >= kernel && shape.width >= kernel, "pooling window larger than input")
        inputShape = shape
        self.kernel = kernel
    }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int) {
        dtk_maxpool_forward(x, y, batch, inputShape.height, inputShape.width, inputShape.channels, kernel)
    }

    public func backward(x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, batch: Int, parameterGradients: Bool) {
        guard let dx else { return }
        dtk_maxpool_backward(x, y, dy, dx, batch, inputShape.height, inputShape.width, inputShape.channels, kernel)
    }
}

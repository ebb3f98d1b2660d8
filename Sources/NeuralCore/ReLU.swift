import CKernels

/// y = max(x, 0) element-wise; dx = dy · [y > 0]. Any shape and layout.
public final class ReLU: Layer {
    public let inputShape: Shape
    public let inputLayout: Layout
    public var name: String { "ReLU" }
    public var outputShape: Shape { inputShape }

    /// Set by `Network` when the layer before applies this ReLU itself (`ReLUFusable`): the
    /// input is then rectified already and the network passes it on.
    public internal(set) var isAbsorbed = false
    public var isIdentity: Bool { isAbsorbed }

    public init(shape: Shape, layout: Layout) {
        inputShape = shape
        inputLayout = layout
    }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int) {
        dtk_relu(x, y, batch * inputShape.count)
    }

    public func backward(x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, batch: Int, parameterGradients: Bool) {
        guard let dx else { return }
        ReLU.mask(dy, by: y, into: dx, rows: 1, width: batch * inputShape.count)
    }

    /// dz = dy · [y > 0] over `rows` rows of `width` (a non-finite dy stays non-finite as 0·dy),
    /// and, when `columnSums` is given, columnSums[j] += Σ_rows dz[·, j] in row order: a bias
    /// gradient taken in the same pass.
    static func mask(_ dy: UnsafePointer<Float>, by y: UnsafePointer<Float>, into dz: UnsafeMutablePointer<Float>,
                     rows: Int, width: Int, columnSums: UnsafeMutablePointer<Float>? = nil) {
        dtk_relu_mask(dy, y, dz, rows, width, columnSums)
    }
}

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
        let n = batch * inputShape.count
        for i in 0..<n { y[i] = max(x[i], 0) }
    }

    public func backward(x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, batch: Int, parameterGradients: Bool) {
        guard let dx else { return }
        ReLU.mask(dy, by: y, into: dx, rows: 1, width: batch * inputShape.count)
    }

    /// dz = dy · [y > 0] over `rows` rows of `width` (a non-finite dy stays non-finite as 0·dy),
    /// and, when `columnSums` is given, columnSums[j] += Σ_rows dz[·, j] in row order: a bias
    /// gradient taken in the same pass.
    @inline(__always)
    static func mask(_ dy: UnsafePointer<Float>, by y: UnsafePointer<Float>, into dz: UnsafeMutablePointer<Float>,
                     rows: Int, width: Int, columnSums: UnsafeMutablePointer<Float>? = nil) {
        // Written as a select of two loaded values so LLVM vectorises it (a branch on y does not).
        if let sums = columnSums {
            for r in 0..<rows {
                let o = r * width
                for j in 0..<width {
                    let g = dy[o + j]
                    let m = y[o + j] > 0 ? g : 0 * g
                    dz[o + j] = m
                    sums[j] += m
                }
            }
        } else {
            for i in 0..<rows * width {
                let g = dy[i]
                dz[i] = y[i] > 0 ? g : 0 * g
            }
        }
    }
}

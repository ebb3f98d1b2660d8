/// y = max(x, 0) element-wise; dx = dy · [y > 0]. Any shape and layout.
public final class ReLU: Layer {
    public let inputShape: Shape
    public let inputLayout: Layout
    public var name: String { "ReLU" }
    public var outputShape: Shape { inputShape }

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
        let n = batch * inputShape.count
        // Written as a select of two loaded values so LLVM vectorises it (a branch on y does not).
        for i in 0..<n {
            let g = dy[i]
            dx[i] = y[i] > 0 ? g : 0 * g
        }
    }
}

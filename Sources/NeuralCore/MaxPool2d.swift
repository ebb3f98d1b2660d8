/// Max pooling with a k×k window and stride k (PyTorch `nn.MaxPool2d(k)`), on `hwc`
/// activations. Forward remembers each output's winning input; backward routes dy there.
/// Ties go to the first element in row-major window order, as in PyTorch.
public final class MaxPool2d: Layer {
    public let inputShape: Shape
    public let kernel: Int
    public var name: String { "MaxPool2d(\(kernel))" }
    public var inputLayout: Layout { .hwc }
    public var outputShape: Shape {
        Shape(inputShape.channels, inputShape.height / kernel, inputShape.width / kernel)
    }
    private var argmax: UnsafeMutablePointer<Int32>?
    private var capacity = 0

    public var workspaceBytes: Int { capacity * outputShape.count * 4 }

    public init(shape: Shape, kernel: Int = 2) {
        precondition(shape.height >= kernel && shape.width >= kernel, "pooling window larger than input")
        inputShape = shape
        self.kernel = kernel
    }
    deinit { argmax?.deallocate() }

    public func reserve(batch: Int) {
        guard batch > capacity else { return }
        argmax?.deallocate()
        argmax = .allocate(capacity: batch * outputShape.count)
        capacity = batch
    }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int) {
        reserve(batch: batch)
        let c = inputShape.channels, iw = inputShape.width, ih = inputShape.height
        let o = outputShape
        let arg = argmax!
        for s in 0..<batch {
            let xs = x + s * inputShape.count
            for oy in 0..<o.height {
                for ox in 0..<o.width {
                    let out = ((s * o.height + oy) * o.width + ox) * c
                    for ch in 0..<c {
                        var best = -Float.infinity, bestIndex = 0
                        for ky in 0..<kernel {
                            let iy = oy * kernel + ky
                            if iy >= ih { break }
                            for kx in 0..<kernel {
                                let idx = (iy * iw + ox * kernel + kx) * c + ch
                                let v = xs[idx]
                                if v > best || (v.isNaN && !best.isNaN) { best = v; bestIndex = idx }
                            }
                        }
                        y[out + ch] = best
                        arg[out + ch] = Int32(bestIndex)
                    }
                }
            }
        }
    }

    public func backward(x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, batch: Int, parameterGradients: Bool) {
        guard let dx else { return }
        let n = inputShape.count, m = outputShape.count
        dx.update(repeating: 0, count: batch * n)
        let arg = argmax!
        for s in 0..<batch {
            for j in 0..<m { dx[s * n + Int(arg[s * m + j])] += dy[s * m + j] }
        }
    }
}

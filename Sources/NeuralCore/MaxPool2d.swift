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

    /// Element offset of window tap (ky, kx) of output (oy, ox), channel 0, within a sample.
    @inline(__always)
    private func tap(_ oy: Int, _ ox: Int, _ ky: Int, _ kx: Int) -> Int {
        ((oy * kernel + ky) * inputShape.width + ox * kernel + kx) * inputShape.channels
    }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int) {
        let c = inputShape.channels, o = outputShape
        for s in 0..<batch {
            let xs = x + s * inputShape.count
            for oy in 0..<o.height {
                for ox in 0..<o.width {
                    let out = y + ((s * o.height + oy) * o.width + ox) * c
                    out.update(from: xs + tap(oy, ox, 0, 0), count: c)
                    for ky in 0..<kernel {
                        for kx in 0..<kernel where ky + kx > 0 {
                            let v = xs + tap(oy, ox, ky, kx)
                            // A select over the channels (vectorised): the larger value, or a NaN
                            // that appears where the running maximum is not yet NaN.
                            for ch in 0..<c {
                                let a = out[ch], b = v[ch]
                                out[ch] = (b > a || (b != b && a == a)) ? b : a
                            }
                        }
                    }
                }
            }
        }
    }

    public func backward(x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, batch: Int, parameterGradients: Bool) {
        guard let dx else { return }
        dtk_maxpool_backward(x, y, dy, dx, batch, inputShape.height, inputShape.width, inputShape.channels, kernel)
    }
}

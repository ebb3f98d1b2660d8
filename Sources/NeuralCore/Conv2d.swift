/// 2-D convolution lowered to one GEMM per batch (im2col).
///
/// y[n, co, oy, ox] = b[co] + Σ_{ci, ky, kx} W[co, ci, ky, kx] · x[n, ci, oy·s − p + ky, ox·s − p + kx]
/// W: (out, in, k, k) as PyTorch's `nn.Conv2d.weight`; b: (out). Input in `chw` or `hwc`
/// layout, output in `hwc`, so with P = N·OH·OW rows and K = in·k·k:
///   forward   Y (P, out) = col (P, K) · Wᵀ + b
///   backward  dW += dYᵀ · col,  db += Σ_rows dY,  dcol = dY · W,  dx = col2im(dcol)
public final class Conv2d: Layer {
    public let inChannels, outChannels, kernel, stride, padding: Int
    public let inputShape: Shape
    public let inputLayout: Layout
    public var outputLayout: Layout { .hwc }
    public let outputShape: Shape
    public var name: String { "Conv2d(\(inChannels), \(outChannels), \(kernel), stride: \(stride), padding: \(padding))" }
    public var parameterCount: Int { outChannels * patch + outChannels }
    public var parameterShapes: [(suffix: String, shape: [Int])] {
        [("weight", [outChannels, inChannels, kernel, kernel]), ("bias", [outChannels])]
    }
    public var fanIn: Int { patch }
    /// K: the length of one unrolled receptive field.
    public var patch: Int { inChannels * kernel * kernel }

    private var w: UnsafeMutablePointer<Float>!
    private var b: UnsafeMutablePointer<Float>!
    private var dw: UnsafeMutablePointer<Float>!
    private var db: UnsafeMutablePointer<Float>!
    private var col: FloatBuffer?
    private var dcol: FloatBuffer?
    private var capacity = 0
    /// Precomputed input offset for each (output position, patch element); -1 for padding.
    private let gatherIndex: [Int32]

    public init(input: Shape, layout: Layout, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
        precondition(kernel > 0 && stride > 0 && padding >= 0)
        inChannels = input.channels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        inputShape = input
        inputLayout = layout
        let oh = (input.height + 2 * padding - kernel) / stride + 1
        let ow = (input.width + 2 * padding - kernel) / stride + 1
        precondition(oh > 0 && ow > 0, "convolution kernel larger than padded input")
        outputShape = Shape(outChannels, oh, ow)
        let st = layout.strides(input)
        var index = [Int32]()
        index.reserveCapacity(oh * ow * input.channels * kernel * kernel)
        for oy in 0..<oh {
            for ox in 0..<ow {
                for c in 0..<input.channels {
                    for ky in 0..<kernel {
                        let iy = oy * stride - padding + ky
                        for kx in 0..<kernel {
                            let ix = ox * stride - padding + kx
                            let inside = iy >= 0 && iy < input.height && ix >= 0 && ix < input.width
                            index.append(inside ? Int32(c * st.c + iy * st.h + ix * st.w) : -1)
                        }
                    }
                }
            }
        }
        gatherIndex = index
    }

    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>) {
        w = parameters; b = parameters + outChannels * patch
        dw = gradients; db = gradients + outChannels * patch
    }

    public func reserve(batch: Int) {
        guard batch > capacity else { return }
        let size = batch * outputShape.height * outputShape.width * patch
        col = FloatBuffer(count: size)
        dcol = FloatBuffer(count: size)
        capacity = batch
    }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int) {
        reserve(batch: batch)
        let positions = outputShape.height * outputShape.width
        let rows = batch * positions, k = patch, n = inputShape.count
        let colp = col!.pointer
        gatherIndex.withUnsafeBufferPointer { gi in
            let per = positions * k
            for s in 0..<batch {
                let xs = x + s * n, cs = colp + s * per
                for j in 0..<per {
                    let src = Int(gi[j])
                    cs[j] = src >= 0 ? xs[src] : 0
                }
            }
        }
        sgemm(transB: true, m: rows, n: outChannels, k: k, a: colp, lda: k, b: w, ldb: k, c: y, ldc: outChannels)
        for r in 0..<rows {
            let row = y + r * outChannels
            for j in 0..<outChannels { row[j] += b[j] }
        }
    }

    public func backward(x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, batch: Int, parameterGradients: Bool) {
        let positions = outputShape.height * outputShape.width
        let rows = batch * positions, k = patch
        if parameterGradients {
            sgemm(transA: true, m: outChannels, n: k, k: rows, a: dy, lda: outChannels,
                  b: col!.pointer, ldb: k, beta: 1, c: dw, ldc: k)
            for r in 0..<rows {
                let row = dy + r * outChannels
                for j in 0..<outChannels { db[j] += row[j] }
            }
        }
        guard let dx else { return }
        let dc = dcol!.pointer
        sgemm(m: rows, n: k, k: outChannels, a: dy, lda: outChannels, b: w, ldb: k, c: dc, ldc: k)
        let n = inputShape.count
        dx.update(repeating: 0, count: batch * n)
        gatherIndex.withUnsafeBufferPointer { gi in
            let per = positions * k
            for s in 0..<batch {
                let dxs = dx + s * n, cs = dc + s * per
                for j in 0..<per {
                    let dst = Int(gi[j])
                    if dst >= 0 { dxs[dst] += cs[j] }
                }
            }
        }
    }
}

/// Fully connected layer: y = x·Wᵀ + b.
/// x: (N, in), W: (out, in) as PyTorch's `nn.Linear.weight`, b: (out), y: (N, out).
public final class Linear: Layer {
    public let inFeatures: Int
    public let outFeatures: Int
    public var name: String { "Linear(\(inFeatures), \(outFeatures))" }
    public var inputShape: Shape { Shape(inFeatures, 1, 1) }
    public var outputShape: Shape { Shape(outFeatures, 1, 1) }
    public var inputLayout: Layout { .chw }
    public var parameterCount: Int { outFeatures * inFeatures + outFeatures }
    public var parameterShapes: [(suffix: String, shape: [Int])] {
        [("weight", [outFeatures, inFeatures]), ("bias", [outFeatures])]
    }
    public var fanIn: Int { inFeatures }

    private var w: UnsafeMutablePointer<Float>!
    private var b: UnsafeMutablePointer<Float>!
    private var dw: UnsafeMutablePointer<Float>!
    private var db: UnsafeMutablePointer<Float>!

    public init(_ inFeatures: Int, _ outFeatures: Int) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>) {
        w = parameters; b = parameters + outFeatures * inFeatures
        dw = gradients; db = gradients + outFeatures * inFeatures
    }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int) {
        sgemm(transB: true, m: batch, n: outFeatures, k: inFeatures,
              a: x, lda: inFeatures, b: w, ldb: inFeatures, c: y, ldc: outFeatures)
        for i in 0..<batch {
            let row = y + i * outFeatures
            for j in 0..<outFeatures { row[j] += b[j] }
        }
    }

    public func backward(x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, batch: Int, parameterGradients: Bool) {
        if parameterGradients {
            // dW (out, in) += dyᵀ (out, N) · x (N, in);  db += Σ_rows dy
            sgemm(transA: true, m: outFeatures, n: inFeatures, k: batch,
                  a: dy, lda: outFeatures, b: x, ldb: inFeatures, beta: 1, c: dw, ldc: inFeatures)
            for i in 0..<batch {
                let row = dy + i * outFeatures
                for j in 0..<outFeatures { db[j] += row[j] }
            }
        }
        if let dx {
            // dx (N, in) = dy (N, out) · W (out, in)
            sgemm(m: batch, n: inFeatures, k: outFeatures,
                  a: dy, lda: outFeatures, b: w, ldb: inFeatures, c: dx, ldc: inFeatures)
        }
    }
}

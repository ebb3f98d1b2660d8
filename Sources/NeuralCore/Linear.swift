import CKernels

/// Fully connected layer: y = x·Wᵀ + b.
/// x: (N, in), W: (out, in) as PyTorch's `nn.Linear.weight`, b: (out), y: (N, out).
/// With `appliesReLU` (a ReLU follows, see `ReLUFusable`) y = max(x·Wᵀ + b, 0).
public final class Linear: ReLUFusable {
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
    public var appliesReLU = false { didSet { capacity = 0 } }
    /// dL/d(x·Wᵀ + b) when the ReLU is applied here.
    private var masked = FloatBuffer(count: 0)
    /// yᵀ (out, N) for the transposed forward GEMM.
    private var transposed = FloatBuffer(count: 0)
    private var capacity = 0

    public init(_ inFeatures: Int, _ outFeatures: Int) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
    }

    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>) {
        w = parameters; b = parameters + outFeatures * inFeatures
        dw = gradients; db = gradients + outFeatures * inFeatures
    }

    public func reserve(batch: Int) {
        guard batch > capacity else { return }
        if appliesReLU && batch * outFeatures > masked.count { masked = FloatBuffer(count: batch * outFeatures) }
        let widest = min(batch, 32, 2 * outFeatures - 1)   // the largest batch that transposes
        if widest * outFeatures > transposed.count { transposed = FloatBuffer(count: widest * outFeatures) }
        capacity = batch
    }

    public var workspaceBytes: Int { (masked.count + transposed.count) * 4 }

    /// Whether the forward pass computes yᵀ = W·xᵀ and transposes it in the bias pass, instead
    /// of y = x·Wᵀ. OpenBLAS (1 thread, Zen 5, docs/performance.md) runs that orientation
    /// 1.3–1.5× faster at batch 16–32 (the shards of 4–8 ranks) against 100–1024 outputs, and
    /// slower against 10; from batch 64 on it gains 4–13% at most, which the transpose costs
    /// back. Fixed by shape, not timed, so that results do not depend on the run.
    public func transposesForward(batch: Int) -> Bool { batch <= 32 && batch < 2 * outFeatures }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int) {
        reserve(batch: batch)
        if transposesForward(batch: batch) {
            let yt = transposed.pointer
            sgemm(transB: true, m: outFeatures, n: batch, k: inFeatures,
                  a: w, lda: inFeatures, b: x, ldb: inFeatures, c: yt, ldc: batch)
            dtk_transpose_add_bias(yt, outFeatures, batch, b, appliesReLU ? 1 : 0, y)
            return
        }
        sgemm(transB: true, m: batch, n: outFeatures, k: inFeatures,
              a: x, lda: inFeatures, b: w, ldb: inFeatures, c: y, ldc: outFeatures)
        dtk_add_bias(y, batch, outFeatures, b, appliesReLU ? 1 : 0)
    }

    public func backward(x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, batch: Int, parameterGradients: Bool) {
        var dy = dy
        if appliesReLU {
            // dy is dL/d(ReLU output): mask it, taking db += Σ_rows in the same pass.
            reserve(batch: batch)
            ReLU.mask(dy, by: y, into: masked.pointer, rows: batch, width: outFeatures,
                      columnSums: parameterGradients ? db : nil)
            dy = UnsafePointer(masked.pointer)
        }
        if parameterGradients {
            // dW (out, in) += dyᵀ (out, N) · x (N, in);  db += Σ_rows dy
            sgemm(transA: true, m: outFeatures, n: inFeatures, k: batch,
                  a: dy, lda: outFeatures, b: x, ldb: inFeatures, beta: 1, c: dw, ldc: inFeatures)
            if !appliesReLU { dtk_add_column_sums(dy, batch, outFeatures, db) }
        }
        if let dx {
            // dx (N, in) = dy (N, out) · W (out, in)
            sgemm(m: batch, n: inFeatures, k: outFeatures,
                  a: dy, lda: outFeatures, b: w, ldb: inFeatures, c: dx, ldc: inFeatures)
        }
    }
}

import CBLAS

/// Row-major single-precision GEMM: C = alpha·op(A)·op(B) + beta·C,
/// op(A): (m, k), op(B): (k, n), C: (m, n). Leading dimensions are row strides.
/// The only place the code calls `cblas_sgemm`.
@inline(__always)
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                  alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                  b: UnsafePointer<Float>, ldb: Int,
                  beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    GEMMCounter.flops &+= 2 &* m &* n &* k
    if GEMMCounter.shapes != nil { GEMMCounter.shapes!.append(GEMMShape(transA: transA, transB: transB, m: m, n: n, k: k)) }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// OpenBLAS thread control (`openblas_set_num_threads`).
public enum BLASThreads {
    public static func set(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }
    public static var current: Int { Int(openblas_get_num_threads()) }
}

/// Counts the floating-point operations issued through `sgemm` and the direct convolution
/// kernels (the multiply-adds of the GEMMs they replace) in this process, so benchmarks report
/// achieved GFLOP/s from the real calls rather than a formula.
public enum GEMMCounter {
    nonisolated(unsafe) public static var flops = 0
    /// When non-nil, the shape of every `sgemm` call is appended (`dist-train bench` replays a
    /// step's GEMMs alone to measure what BLAS itself reaches on them).
    nonisolated(unsafe) public static var shapes: [GEMMShape]?
}

/// The shape of one `sgemm` call: op(A) (m, k), op(B) (k, n).
public struct GEMMShape: Hashable, Sendable {
    public var transA, transB: Bool
    public var m, n, k: Int

    public init(transA: Bool, transB: Bool, m: Int, n: Int, k: Int) {
        self.transA = transA; self.transB = transB
        self.m = m; self.n = n; self.k = k
    }

    /// GFLOP/s of `sgemm` on these shapes alone, in this order, on dense operands: the bound
    /// BLAS sets for a step that issues them. Repeats the list for at least `seconds`.
    public static func replayRate(_ shapes: [GEMMShape], seconds: Double, clock: () -> Double) -> Double {
        guard !shapes.isEmpty else { return 0 }
        let a = FloatBuffer(count: shapes.map { $0.m * $0.k }.max()!)
        let b = FloatBuffer(count: shapes.map { $0.k * $0.n }.max()!)
        let c = FloatBuffer(count: shapes.map { $0.m * $0.n }.max()!)
        for buffer in [a, b, c] { for i in 0..<buffer.count { buffer.pointer[i] = Float(i % 7) * 0.1 - 0.3 } }
        func once() {
            for g in shapes {
                sgemm(transA: g.transA, transB: g.transB, m: g.m, n: g.n, k: g.k, a: a.pointer, lda: g.transA ? g.m : g.k,
                      b: b.pointer, ldb: g.transB ? g.k : g.n, c: c.pointer, ldc: g.n)
            }
        }
        once()
        let flops = shapes.reduce(0) { $0 + 2 * $1.m * $1.n * $1.k }
        var best = 0.0
        for _ in 0..<3 {
            let t0 = clock()
            var n = 0
            repeat { once(); n += 1 } while clock() - t0 < seconds / 3
            best = max(best, Double(flops * n) / (clock() - t0) / 1e9)
        }
        return best
    }
}

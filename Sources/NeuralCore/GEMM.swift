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
}

import CBLAS
import CKernels

/// Which OpenBLAS kernels this process runs, and the ones the CPU could run.
///
/// A DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU model when it is loaded. An OpenBLAS
/// older than the CPU does not know its model and falls back to generic SSE3 kernels
/// ("Prescott"): Debian 12's 0.3.21 does so on Intel Xeons of model 207 (Emerald Rapids),
/// where sgemm runs at 32 instead of 154 GFLOP/s (docs/performance.md). The choice can only
/// be changed before the library is loaded, through `OPENBLAS_CORETYPE`; `dist-train` then
/// re-executes itself once (`BLASCore.upgradeIfGeneric`).
public enum BLASCore {
    /// OpenBLAS's name for the loaded kernels, e.g. "SkylakeX", "Haswell", "Prescott".
    public static var name: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// The OPENBLAS_CORETYPE for the widest SIMD the CPU and OS support, or nil when the loaded
    /// kernels already use it (or the CPU has neither AVX2 + FMA nor AVX-512).
    public static func better(than loaded: String, vectorLevel: Int) -> String? {
        let core = loaded.lowercased()
        let avx512Cores: Set<String> = ["skylakex", "cooperlake", "sapphirerapids"]
        let avx2Cores: Set<String> = avx512Cores.union(["haswell", "zen", "skylake"])
        switch vectorLevel {
        case 2 where !avx512Cores.contains(core): return "SkylakeX"
        case 1 where !avx2Cores.contains(core): return "Haswell"
        default: return nil
        }
    }

    /// 2: AVX-512, 1: AVX2 + FMA, 0: neither (CPUID and XGETBV, `dtk_vector_level`).
    public static var vectorLevel: Int { Int(dtk_vector_level()) }
}

/// A check that the loaded sgemm kernels compute right on this CPU. Some machines pin
/// `OPENBLAS_CORETYPE` because older OpenBLAS builds compute wrong results on them; dist-train
/// uses only `sgemm`, so it checks exactly that: each shape once on pseudo-random operands, a
/// sample of entries of C against a double-precision sum.
public enum SGEMMCheck {
    /// The largest error found and the shape it was found on.
    public struct Result: Sendable {
        /// max |C − C_ref| / Σ_p |op(A)_ip · op(B)_pj| over the checked entries (the bound of a
        /// float dot product of length k is about k · 6e-8).
        public var error: Double
        public var worst: GEMMShape?
    }

    /// Small shapes that reach OpenBLAS's small-matrix, edge and packed paths in every transpose
    /// combination (cheap enough to check at every start; `dist-train bench` also checks the
    /// shapes of each step it measures).
    public static let standardShapes: [GEMMShape] = {
        let sizes: [(Int, Int, Int)] = [(1, 1, 1), (3, 5, 7), (17, 33, 9), (64, 40, 100), (128, 10, 256)]
        return sizes.flatMap { m, n, k in
            [(false, false), (false, true), (true, false), (true, true)].map {
                GEMMShape(transA: $0.0, transB: $0.1, m: m, n: n, k: k)
            }
        }
    }()

    /// C ← op(A)·op(B) + C for a shape, with the leading dimensions of dense operands.
    public typealias Multiply = @Sendable (GEMMShape, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void

    /// The loaded OpenBLAS `sgemm` (not counted by `GEMMCounter`).
    public static let openBLAS: Multiply = { g, a, b, c in
        let count = GEMMCounter.flops
        sgemm(transA: g.transA, transB: g.transB, m: g.m, n: g.n, k: g.k, a: a, lda: g.transA ? g.m : g.k,
              b: b, ldb: g.transB ? g.k : g.n, beta: 1, c: c, ldc: g.n)
        GEMMCounter.flops = count   // a check, not work to count
    }

    /// Runs every distinct shape once with β = 1 onto a non-zero C; `samples` entries per shape.
    public static func run(_ shapes: [GEMMShape] = standardShapes, samples: Int = 48,
                           multiply: Multiply = openBLAS) -> Result {
        var result = Result(error: 0, worst: nil)
        var seen = Set<GEMMShape>()
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
        func value() -> Float { Float(next() % 2001) / 1000 - 1 }
        for g in shapes where g.m > 0 && g.n > 0 && seen.insert(g).inserted {
            let a = (0..<(g.m * g.k)).map { _ in value() }, b = (0..<(g.k * g.n)).map { _ in value() }
            let c0 = (0..<(g.m * g.n)).map { _ in value() }
            var c = c0
            let lda = g.transA ? g.m : g.k, ldb = g.transB ? g.k : g.n
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { multiply(g, pa.baseAddress!, pb.baseAddress!, $0.baseAddress!) }
                }
            }
            for _ in 0..<min(samples, g.m * g.n) {
                let i = Int(next() % UInt64(g.m)), j = Int(next() % UInt64(g.n))
                var sum = Double(c0[i * g.n + j]), magnitude = abs(sum)
                for p in 0..<g.k {
                    let x = Double(g.transA ? a[p * lda + i] : a[i * lda + p])
                    let y = Double(g.transB ? b[j * ldb + p] : b[p * ldb + j])
                    sum += x * y
                    magnitude += abs(x * y)
                }
                let e = abs(sum - Double(c[i * g.n + j])) / max(magnitude, .leastNormalMagnitude)
                if !(e <= result.error) { result.error = e.isNaN ? .infinity : e; result.worst = g }
            }
        }
        return result
    }

    /// Relative errors above this mean wrong kernels, not rounding (a length-k float dot product
    /// errs by at most about k · 6e-8: 2e-4 at the models' largest k = 3136, ~1e-6 in practice).
    public static let tolerance = 1e-3
}

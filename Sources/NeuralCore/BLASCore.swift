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

import Foundation
import NeuralCore

/// Runs dist-train on the OpenBLAS kernels the CPU supports (see `BLASCore`): when the loaded
/// kernels are generic although the CPU has AVX2 or AVX-512, sets `OPENBLAS_CORETYPE` and
/// re-executes the same binary with the same arguments, before MPI or anything else has started
/// (the process id stays the same, so mpirun and srun do not notice). An `OPENBLAS_CORETYPE`
/// the user set is always kept; `DIST_TRAIN_KEEP_BLAS_CORE=1` keeps OpenBLAS's own choice.
enum BLASKernels {
    static let previousCoreVariable = "DIST_TRAIN_BLAS_CORE_DETECTED"

    static func upgradeIfGeneric() {
        let env = ProcessInfo.processInfo.environment
        guard env["OPENBLAS_CORETYPE"] == nil, env["DIST_TRAIN_KEEP_BLAS_CORE"] == nil else { return }
        let loaded = BLASCore.name
        guard let core = BLASCore.better(than: loaded, vectorLevel: BLASCore.vectorLevel) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(previousCoreVariable, loaded, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returned: it failed; carry on with the kernels already loaded.
        unsetenv("OPENBLAS_CORETYPE")
        unsetenv(previousCoreVariable)
    }

    /// "OpenBLAS SkylakeX kernels" (", chosen over Prescott" after an upgrade), for logs.
    /// When the environment pins narrower kernels than the CPU runs, says so (machines pin them
    /// because older OpenBLAS builds compute wrong on some CPUs; dist-train checks sgemm at start).
    static var description: String {
        let env = ProcessInfo.processInfo.environment
        let name = BLASCore.name
        if let was = env[previousCoreVariable] {
            return "OpenBLAS \(name) kernels (OpenBLAS chose \(was); CPU has \(BLASCore.vectorLevel == 2 ? "AVX-512" : "AVX2"))"
        }
        if let pinned = env["OPENBLAS_CORETYPE"], let wider = BLASCore.better(than: name, vectorLevel: BLASCore.vectorLevel) {
            return "OpenBLAS \(name) kernels (OPENBLAS_CORETYPE=\(pinned); this CPU also runs \(wider))"
        }
        return "OpenBLAS \(name) kernels"
    }
}

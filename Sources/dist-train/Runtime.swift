import Distributed
import Foundation
import NeuralCore

/// Process-level set-up shared by the subcommands: the communicator, BLAS threads, and
/// error reporting that ends every rank (a failing rank must not leave others hanging).
enum Runtime {
    /// OpenBLAS threads per rank: the explicit option, else $OPENBLAS_NUM_THREADS, else
    /// cores divided by the ranks on this node (at least 1).
    static func configureThreads(_ requested: Int?, localRanks: Int) -> Int {
        let env = ProcessInfo.processInfo.environment
        let n: Int
        if let requested { n = requested }
        else if let s = env["OPENBLAS_NUM_THREADS"], let v = Int(s), v > 0 { n = v }
        else { n = max(1, ProcessInfo.processInfo.activeProcessorCount / max(localRanks, 1)) }
        BLASThreads.set(n)
        return n
    }

    /// Fails, naming the kernels and the shape, when the loaded sgemm computes wrong results on
    /// this CPU (`SGEMMCheck`): training on them would silently corrupt every number.
    /// - Returns: the largest relative error found.
    @discardableResult
    static func checkBLAS(_ shapes: [GEMMShape] = SGEMMCheck.standardShapes, samples: Int = 48) throws -> Double {
        let r = SGEMMCheck.run(shapes, samples: samples)
        guard r.error > SGEMMCheck.tolerance, let g = r.worst else { return r.error }
        throw CLIError(String(format: "OpenBLAS %@ kernels compute sgemm wrong on this CPU (relative error %.2g on a %d×%d×%d GEMM%@%@); "
                              + "choose other kernels with OPENBLAS_CORETYPE (e.g. Haswell)",
                              BLASCore.name, r.error, g.m, g.n, g.k, g.transA ? ", A transposed" : "", g.transB ? ", B transposed" : ""))
    }

    static var localRanks: Int {
        let env = ProcessInfo.processInfo.environment
        for key in ["OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE", "MPI_LOCALNRANKS"] {
            if let s = env[key], let v = Int(s.split(separator: "(").first ?? ""), v > 0 { return v }
        }
        return 1
    }

    /// Exit code after a signal stopped training at a step boundary with a checkpoint written
    /// (EX_TEMPFAIL: try again, e.g. requeue and `--resume auto`).
    static let preemptedExitCode: Int32 = 75

    static func note(_ message: String) {
        FileHandle.standardError.write(Data(("dist-train: " + message + "\n").utf8))
    }

    /// Ends a rank that every other rank also ends at this point: MPI_Finalize, then exit.
    static func finish(_ comm: any Communicator, code: Int32) -> Never {
        ((comm as? WatchedCommunicator)?.inner as? MPICommunicator ?? comm as? MPICommunicator)?.finalize()
        exit(code)
    }

    static func fail(_ message: String, comm: (any Communicator)?, code: Int32 = 1) -> Never {
        let prefix = (comm?.size ?? 1) > 1 ? "dist-train (rank \(comm!.rank)): error: " : "dist-train: error: "
        FileHandle.standardError.write(Data((prefix + message + "\n").utf8))
        if let comm, comm.size > 1 { comm.abort(code: code) }
        exit(code)
    }
}

/// A run-time failure: ArgumentParser prints "Error: <message>" and exits 1, without the usage
/// text that a ValidationError (a bad option) gets.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

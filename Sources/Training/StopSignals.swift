import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Turns SIGTERM, SIGINT and SIGUSR1 into a stop request that the trainer reads at each
/// step boundary (and reduces over ranks with the gradients). A second signal ends the
/// process at once with 128 + the signal number. Each signal is noted on stderr with the
/// rank that got it, which also tells a test that the first one was handled.
public final class StopSignals: @unchecked Sendable {
    public static let signals: [Int32] = [SIGTERM, SIGINT, SIGUSR1]
    private final class State: Sendable {
        let count = Atomic<Int>(0)
        let received = Atomic<Int32>(0)
    }
    private let state = State()
    private var sources: [DispatchSourceSignal] = []

    public init() {
        let who = StopSignals.launchRank.map { "dist-train (rank \($0))" } ?? "dist-train"
        for sig in StopSignals.signals {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [state] in
                state.received.store(sig, ordering: .relaxed)
                if state.count.wrappingAdd(1, ordering: .relaxed).newValue >= 2 {
                    let msg = "\(who): second signal \(sig): exiting now without a checkpoint\n"
                    _ = msg.withCString { write(2, $0, strlen($0)) }
                    _exit(128 + sig)
                }
                let msg = "\(who): got \(StopSignals.name(sig)): stopping at the next step boundary with a "
                    + "checkpoint (a second signal exits at once)\n"
                _ = msg.withCString { write(2, $0, strlen($0)) }
            }
            source.resume()
            sources.append(source)
        }
    }

    /// This process's rank as its launcher set it (mpirun, PMIx, srun), known before MPI_Init.
    static var launchRank: Int? {
        let env = ProcessInfo.processInfo.environment
        for key in ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"] {
            if let s = env[key], let r = Int(s) { return r }
        }
        return nil
    }

    public var requested: Bool { state.count.load(ordering: .relaxed) > 0 }
    public var lastSignal: Int32 { state.received.load(ordering: .relaxed) }

    public static func name(_ sig: Int32) -> String {
        switch sig {
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case SIGUSR1: "SIGUSR1"
        default: "signal \(sig)"
        }
    }
}

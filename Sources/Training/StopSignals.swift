import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The stop signal noted by `StopSignals.noteEarly`'s handlers, 0 for none.
private let earlySignal = Atomic<Int32>(0)

/// Turns SIGTERM, SIGINT and SIGUSR1 into a stop request that the trainer reads at each
/// step boundary (and reduces over ranks with the gradients). A second signal ends the
/// process at once with 128 + the signal number. Each signal is noted on stderr with the
/// rank that got it, which also tells a test that the first one was handled.
public final class StopSignals: @unchecked Sendable {
    public static let signals: [Int32] = [SIGTERM, SIGINT, SIGUSR1]

    /// Installs plain handlers that only note a stop signal, to cover the start of the process
    /// (argument parsing, MPI_Init, loading data) until `init` takes over and counts the noted
    /// signal as its first: otherwise a SIGUSR1 sent that early (SLURM's `--signal`, a
    /// launcher's preemption notice) ends the process at once with 138 and no checkpoint. A
    /// second signal before then exits at once, as later. Call it first thing in `main`, and only
    /// for commands that create a `StopSignals`: the others would ignore SIGINT and SIGTERM.
    public static func noteEarly() {
        for sig in signals {
            signal(sig) { sig in
                if earlySignal.exchange(sig, ordering: .relaxed) != 0 {
                    let msg: StaticString = "dist-train: second signal while starting: exiting now without a checkpoint\n"
                    _ = write(2, msg.utf8Start, msg.utf8CodeUnitCount)
                    _exit(128 + sig)
                }
            }
        }
    }
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
        let early = earlySignal.load(ordering: .relaxed)
        if early != 0 {
            state.received.store(early, ordering: .relaxed)
            // Counted like a handled one (added, so that a signal the source already counted stays).
            state.count.wrappingAdd(1, ordering: .relaxed)
            let msg = "\(who): got \(StopSignals.name(early)) while starting: stopping at the first step boundary "
                + "with a checkpoint (a second signal exits at once)\n"
            _ = msg.withCString { write(2, $0, strlen($0)) }
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

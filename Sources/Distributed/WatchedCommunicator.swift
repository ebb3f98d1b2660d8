import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Wraps a communicator with a watchdog thread: a collective that has not returned after
/// `timeout` seconds means a peer is gone (Open MPI 4.1 has no ULFM, so a dead rank is a
/// dead job), and this rank exits with `WatchedCommunicator.exitCode` and a message naming
/// the collective, instead of hanging forever.
public final class WatchedCommunicator: Communicator {
    public static let exitCode: Int32 = 4
    public let inner: any Communicator
    public let timeout: Double
    /// Shared with the watchdog thread.
    private final class State: Sendable {
        /// Start time (monotonic µs) of the collective in progress, 0 when none.
        let started = Atomic<UInt64>(0)
        let operation = Mutex<String>("")
    }
    private let state = State()

    /// How long a collective may wait once a stop was requested (a launcher that sends
    /// SIGTERM to the survivors of a dead rank expects them gone before its SIGKILL, 30 s
    /// by default under SLURM); longer than any checkpoint write that a barrier waits for.
    public static let stopTimeout = 20.0
    /// How long a collective may wait after a stop request before this rank says that it may
    /// not reach the step boundary (a healthy peer's step or checkpoint write can take that long).
    public static let stopNotice = 1.0

    /// - Parameter stopRequested: true once the process was asked to stop (a signal); then
    ///   a collective that does not complete within `stopTimeout` ends the rank too.
    public init(_ inner: any Communicator, timeout: Double, stopRequested: (@Sendable () -> Bool)? = nil) {
        self.inner = inner
        self.timeout = timeout
        guard inner.size > 1, timeout > 0 else { return }
        let thread = Thread { [state, rank = inner.rank] in
            // When this thread first saw the stop request (µs, 0: not yet), and the start of the
            // collective it last explained (so that each one is explained once).
            var stopSeen: UInt64 = 0, explained: UInt64 = 0
            while true {
                Thread.sleep(forTimeInterval: min(0.1, timeout / 4))
                let stopping = stopRequested?() ?? false
                let now = WatchedCommunicator.now()
                if stopping && stopSeen == 0 { stopSeen = now }
                let t0 = state.started.load(ordering: .relaxed)
                guard t0 > 0 else { continue }
                let waited = Double(now - t0) / 1e6
                let limit = stopping ? min(timeout, WatchedCommunicator.stopTimeout) : timeout
                // The signal's message promised a checkpoint at the next step boundary; a rank whose
                // peer died never gets there, so say so while it waits (srun waits KillWait seconds).
                if stopping && explained != t0 && Double(now - max(t0, stopSeen)) / 1e6 >= WatchedCommunicator.stopNotice {
                    explained = t0
                    let name = state.operation.withLock { $0 }
                    let msg = "dist-train (rank \(rank)): \(name) still waiting \(WatchedCommunicator.stopNotice) s after the stop "
                        + "request: if another rank has died, the ranks cannot reach the step boundary and no checkpoint "
                        + "is written for this stop; the newest one on disk is intact. This rank ends \(Int(limit)) s after "
                        + "the collective started, at the latest.\n"
                    FileHandle.standardError.write(Data(msg.utf8))
                }
                if waited > limit {
                    let name = state.operation.withLock { $0 }
                    let msg = "dist-train (rank \(rank)): error: \(name) did not complete within \(Int(limit)) s " +
                        (stopping ? "after a stop was requested" : "(--collective-timeout)") +
                        "; another rank has probably died or hangs. Ending this rank; " +
                        "resume from the newest checkpoint with --resume auto.\n"
                    FileHandle.standardError.write(Data(msg.utf8))
                    _exit(WatchedCommunicator.exitCode)
                }
            }
        }
        thread.start()
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec / 1000)
    }

    private func watch<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        state.operation.withLock { $0 = name }
        state.started.store(WatchedCommunicator.now(), ordering: .relaxed)
        defer { state.started.store(0, ordering: .relaxed) }
        return try body()
    }

    public var rank: Int { inner.rank }
    public var size: Int { inner.size }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        try watch("MPI_Allreduce (gradients)") { try inner.allreduceSum(buffer) }
    }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        try watch("MPI_Allreduce (statistics)") { try inner.allreduceSum(buffer) }
    }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {
        try watch("MPI_Allreduce (counts)") { try inner.allreduceSum(buffer) }
    }
    public func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {
        try watch("MPI_Allreduce (max)") { try inner.allreduceMax(buffer) }
    }
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        try watch("MPI_Bcast") { try inner.broadcast(buffer, root: root) }
    }
    public func gather(_ bytes: [UInt8], root: Int) throws -> [UInt8]? {
        try watch("MPI_Gatherv") { try inner.gather(bytes, root: root) }
    }
    public func barrier() throws { try watch("MPI_Barrier") { try inner.barrier() } }
    public func quietBarrier() throws { try watch("MPI_Ibarrier") { try inner.quietBarrier() } }
    public func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> any PendingReduction {
        Watched(inner: try inner.startAllreduceSum(buffer), owner: self)
    }

    /// Waiting on a bucket is watched like a blocking collective.
    private final class Watched: PendingReduction {
        let inner: any PendingReduction
        let owner: WatchedCommunicator
        init(inner: any PendingReduction, owner: WatchedCommunicator) { self.inner = inner; self.owner = owner }
        func poll() throws { try inner.poll() }
        func wait() throws { try owner.watch("MPI_Wait (gradient allreduce)") { try inner.wait() } }
    }
    public func abort(code: Int32) -> Never { inner.abort(code: code) }
}

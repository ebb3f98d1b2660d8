/// Collective operations the trainer needs, called in the same order on every rank.
///
/// Two implementations: `MPICommunicator` (Open MPI, one process per rank) and
/// `LocalCommunicator` (a plain single process, where every collective is the identity).
public protocol Communicator: AnyObject {
    var rank: Int { get }
    var size: Int { get }
    /// Element-wise sum over ranks, in place.
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws
    func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Int64>) throws
    /// Copies `buffer` of rank `root` into `buffer` of every rank.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws
    /// Concatenates every rank's bytes, in rank order, on `root`; other ranks get nil.
    func gather(_ bytes: [UInt8], root: Int) throws -> [UInt8]?
    func barrier() throws
    /// A barrier that sleeps while it waits instead of polling at full speed, so that a rank
    /// waiting for long leaves its core (and the host's shared resources) to the others.
    func quietBarrier() throws
    /// Ends every rank of the job (MPI_Abort); the local version exits the process.
    func abort(code: Int32) -> Never
    /// Starts an in-place sum over ranks that completes in `wait()`; the buffer must not be
    /// touched until then. Communicators without non-blocking collectives finish it at once.
    func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> any PendingReduction
}

/// A reduction started with `startAllreduceSum`.
public protocol PendingReduction: AnyObject {
    /// Lets the reduction progress without blocking (MPI progresses only inside MPI calls).
    func poll() throws
    func wait() throws
}

/// A reduction that was already complete when it was started.
public final class CompletedReduction: PendingReduction {
    public init() {}
    public func poll() throws {}
    public func wait() throws {}
}

public struct CommunicatorError: Error, CustomStringConvertible {
    public let operation: String
    public let code: Int32
    public let message: String
    public var description: String { "MPI \(operation) failed (code \(code)): \(message)" }
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    /// Communicators that cannot sleep in a barrier wait in the plain one.
    public func quietBarrier() throws { try barrier() }

    /// Communicators without non-blocking collectives reduce at once.
    public func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> any PendingReduction {
        try allreduceSum(buffer)
        return CompletedReduction()
    }

    public func allreduceSum(_ values: inout [Double]) throws {
        var copy = values
        try copy.withUnsafeMutableBufferPointer { (b) in try allreduceSum(b) }
        values = copy
    }
    public func allreduceSum(_ values: inout [Int64]) throws {
        var copy = values
        try copy.withUnsafeMutableBufferPointer { (b) in try allreduceSum(b) }
        values = copy
    }
    public func broadcast(_ values: inout [Float], root: Int) throws {
        var copy = values
        try copy.withUnsafeMutableBytes { (b) in try broadcast(b, root: root) }
        values = copy
    }
    /// Broadcasts a byte string of any length from `root` (length first, then bytes).
    public func broadcast(bytes: [UInt8], root: Int) throws -> [UInt8] {
        var count = [Int64(bytes.count)]
        try count.withUnsafeMutableBytes { (b) in try broadcast(b, root: root) }
        var out = rank == root ? bytes : [UInt8](repeating: 0, count: Int(count[0]))
        try out.withUnsafeMutableBytes { (b) in try broadcast(b, root: root) }
        return out
    }
}

/// The single-process communicator: rank 0 of 1.
public final class LocalCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {}
    public func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {}
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
    public func gather(_ bytes: [UInt8], root: Int) throws -> [UInt8]? { bytes }
    public func barrier() throws {}
    public func abort(code: Int32) -> Never { exit(code) }
}

#if canImport(Glibc)
import Glibc
#endif

import CMPI
#if canImport(Glibc)
import Glibc
#endif

/// Open MPI through the `CMPI` shim. Every call goes through `check`, which turns
/// an MPI error code into a `CommunicatorError` with MPI's own text.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int

    public init() throws {
        if dtmpi_initialized() == 0 {
            for (name, value) in Self.transportDefaults(environment: ProcessInfo.environment) { setenv(name, value, 0) }
            var provided: Int32 = 0
            try Self.check(dtmpi_init(&provided), "MPI_Init_thread")
        }
        var r: Int32 = 0, s: Int32 = 0
        try Self.check(dtmpi_rank(&r), "MPI_Comm_rank")
        try Self.check(dtmpi_size(&s), "MPI_Comm_size")
        rank = Int(r)
        size = Int(s)
    }

    /// Open MPI settings this process gives itself before MPI_Init, each only when the
    /// environment does not name it already (a user's `-x OMPI_MCA_...` or `export` wins).
    /// Measured on this project's machines (docs/performance.md):
    /// - shared-memory transfers without CMA single copy: copy-in/copy-out through the
    ///   shared-memory FIFOs reduced every model's gradients 1.3–1.9× faster at np = 2 and
    ///   1.2–1.4× at np = 4; of the size sweep only 16 Mi floats, five times the largest model,
    ///   was slower;
    /// - with those copies in 256 KiB fragments instead of 32 KiB (`maxSendSizeVariable`), the
    ///   mlp's and cnn-small's gradients 1.2× faster again at np = 2 (median of 6 alternating
    ///   runs; cnn-large's and the 16 Mi-float sweep point unchanged) and 1.0–1.6× at np = 4.
    /// Every rank runs the same code, so all ranks agree; between hosts they do not apply.
    public static func transportDefaults(environment: [String: String]) -> [(name: String, value: String)] {
        [(singleCopyVariable, "none"), (maxSendSizeVariable, "262144")].filter { environment[$0.name] == nil }
    }

    /// The Open MPI variable that chooses the shared-memory single-copy mechanism.
    public static let singleCopyVariable = "OMPI_MCA_btl_vader_single_copy_mechanism"
    /// The Open MPI variable for the fragment size of large shared-memory messages.
    public static let maxSendSizeVariable = "OMPI_MCA_btl_vader_max_send_size"

    /// Calls MPI_Finalize once; safe to call more than once.
    public func finalize() {
        if dtmpi_initialized() != 0 && dtmpi_finalized() == 0 { _ = dtmpi_finalize() }
    }

    static func check(_ code: Int32, _ operation: String) throws {
        guard code != dtmpi_success() else { return }
        var text = [CChar](repeating: 0, count: 512)
        dtmpi_error_string(code, &text, Int32(text.count))
        throw CommunicatorError(operation: operation, code: code,
                                message: String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard let base = buffer.baseAddress, size > 1 else { return }
        try Self.check(dtmpi_allreduce_sum_float(base, Int64(buffer.count)), "MPI_Allreduce(float)")
    }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {
        guard let base = buffer.baseAddress, size > 1 else { return }
        try Self.check(dtmpi_allreduce_sum_double(base, Int64(buffer.count)), "MPI_Allreduce(double)")
    }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {
        guard let base = buffer.baseAddress, size > 1 else { return }
        try Self.check(dtmpi_allreduce_sum_int64(base, Int64(buffer.count)), "MPI_Allreduce(int64)")
    }
    public func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {
        guard let base = buffer.baseAddress, size > 1 else { return }
        try Self.check(dtmpi_allreduce_max_int64(base, Int64(buffer.count)), "MPI_Allreduce(max)")
    }
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {
        guard let base = buffer.baseAddress, size > 1 else { return }
        try Self.check(dtmpi_bcast_bytes(base, Int64(buffer.count), Int32(root)), "MPI_Bcast")
    }
    public func gather(_ bytes: [UInt8], root: Int) throws -> [UInt8]? {
        guard size > 1 else { return bytes }
        var counts = [Int64](repeating: 0, count: size)
        try Self.check(dtmpi_allgather_int64(Int64(bytes.count), &counts), "MPI_Allgather")
        var displs = [Int32](repeating: 0, count: size)
        for i in 1..<size { displs[i] = displs[i - 1] + Int32(counts[i - 1]) }
        let total = Int(counts.reduce(0, +))
        var out = [UInt8](repeating: 0, count: rank == root ? max(total, 1) : 1)
        let counts32 = counts.map { Int32($0) }
        let code = bytes.withUnsafeBytes { send in
            out.withUnsafeMutableBytes { recv in
                dtmpi_gatherv_bytes(send.baseAddress, Int32(bytes.count), recv.baseAddress,
                                    counts32, displs, Int32(root))
            }
        }
        try Self.check(code, "MPI_Gatherv")
        return rank == root ? Array(out.prefix(total)) : nil
    }
    public func barrier() throws {
        try Self.check(dtmpi_barrier(), "MPI_Barrier")
    }
    /// MPI_Ibarrier, then MPI_Test every 0.2 ms with a sleep in between.
    public func quietBarrier() throws {
        guard size > 1 else { return }
        var request: MPI_Request? = nil
        try Self.check(dtmpi_ibarrier(&request), "MPI_Ibarrier")
        var done: Int32 = 0
        while true {
            try Self.check(dtmpi_test(&request, &done), "MPI_Test (barrier)")
            if done != 0 { return }
            usleep(200)
        }
    }
    public func startAllreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> any PendingReduction {
        guard let base = buffer.baseAddress, size > 1 else { return CompletedReduction() }
        let pending = MPIPendingReduction()
        try Self.check(dtmpi_iallreduce_sum_float(base, Int64(buffer.count), &pending.request), "MPI_Iallreduce")
        return pending
    }
    public func abort(code: Int32) -> Never {
        _ = dtmpi_abort(code)
        exit(code)
    }
}

/// An MPI_Iallreduce in flight.
final class MPIPendingReduction: PendingReduction {
    var request: MPI_Request? = nil
    private var done = false
    func poll() throws {
        guard !done else { return }
        var flag: Int32 = 0
        try MPICommunicator.check(dtmpi_test(&request, &flag), "MPI_Test")
        done = flag != 0
    }
    func wait() throws {
        guard !done else { return }
        try MPICommunicator.check(dtmpi_wait(&request), "MPI_Wait (gradient bucket)")
        done = true
    }
}

/// Chooses the communicator for this process: MPI when a launcher (mpirun, srun
/// with PMIx) started it, otherwise a plain single process without MPI_Init.
public enum Communicators {
    public static var launchedByMPI: Bool {
        let env = ProcessInfo.environmentKeys
        return env.contains { ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"].contains($0) }
    }

    public static func make(forceLocal: Bool = false) throws -> any Communicator {
        if forceLocal || !launchedByMPI { return LocalCommunicator() }
        return try MPICommunicator()
    }
}

enum ProcessInfo {
    static var environmentKeys: [String] { Array(environment.keys) }

    static var environment: [String: String] {
        var values: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { values[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return values
    }
}

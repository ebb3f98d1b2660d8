#if canImport(Glibc)
import Glibc
#endif

/// The time on `clock` in seconds (CLOCK_MONOTONIC for wall time, CLOCK_THREAD_CPUTIME_ID for this
/// thread's CPU time), read by LayerTimes, Network's pass timers and Training's PhaseTimes.
@inline(__always)
public func clockSeconds(_ clock: clockid_t) -> Double {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Seconds each layer of a network spent in forward, in backward for the input gradient only
/// (attack iterations), and in backward with parameter gradients (training steps), for
/// `dist-train bench --layers`. Sized once; adding a time allocates nothing.
public final class LayerTimes {
    public private(set) var forward: [Double]
    public private(set) var backwardInput: [Double]
    public private(set) var backwardParameters: [Double]
    /// CLOCK_MONOTONIC, or CLOCK_THREAD_CPUTIME_ID on a machine shared with other jobs.
    public let clock: clockid_t

    public init(layers: Int, clock: clockid_t = CLOCK_MONOTONIC) {
        forward = [Double](repeating: 0, count: layers)
        backwardInput = forward
        backwardParameters = forward
        self.clock = clock
    }

    @inline(__always)
    public func now() -> Double { clockSeconds(clock) }

    func add(forward i: Int, since t0: Double) { forward[i] += now() - t0 }

    func add(backward i: Int, parameters: Bool, since t0: Double) {
        if parameters { backwardParameters[i] += now() - t0 } else { backwardInput[i] += now() - t0 }
    }

    public var total: Double { forward.reduce(0, +) + backwardInput.reduce(0, +) + backwardParameters.reduce(0, +) }

    public func reset() {
        for i in forward.indices { forward[i] = 0; backwardInput[i] = 0; backwardParameters[i] = 0 }
    }
}

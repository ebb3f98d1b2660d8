import CKernels
import Distributed
import NeuralCore

/// Sums the gradients over ranks in buckets of whole layers, each started with a
/// non-blocking allreduce as soon as the backward pass has finished its layers, so the
/// reduction of the last layers overlaps the backward pass of the first ones.
///
/// The gradient buffer ends with `Network.tailSlots` spare floats right after the last
/// layer's gradients; the step's scalars (loss, stop request, local non-finite flag) go
/// there and travel in the first bucket. A NaN or ∞ in any rank's gradients shows in the
/// reduced sums of every rank, so every rank reaches the same decision without an extra
/// collective; only then does a second one find out which ranks saw it. With one bucket, the
/// tail also carries this rank's largest |gradient|: their sum bounds the reduced gradients,
/// which lets the optimizer skip its own pass over them (`SGD.stepIfFinite`).
public final class GradientReducer {
    public enum Tail: Int { case loss = 0, stop = 1, nonFinite = 2, gradientMagnitude = 3 }

    public let network: Network
    let comm: any Communicator
    /// Buckets in start order (last layers first): the lowest layer index whose backward
    /// completes the bucket, and its range of floats in the gradient buffer.
    public let buckets: [(firstLayer: Int, range: Range<Int>)]
    private var pending: [any PendingReduction] = []
    private var started = 0
    private var failure: Error?
    /// Bit 1: this rank's loss was not finite; bit 2: its gradients were not; bit 4: its
    /// parameters were not, before the step (`parametersNonFinite`).
    public private(set) var localCode: Int64 = 0
    /// The quantities behind the bits of `localCode`, in the order messages name them.
    public static let codeNames: [(bit: Int64, name: String)] = [(4, "parameters"), (1, "loss"), (2, "gradients")]
    /// Fault injection for this step: poison this rank's gradients (`injectNaN`) or loss.
    public var injectNaN = false
    public var injectLossNaN = false
    /// Set by the trainer before each step: this rank's parameters already held a NaN or ∞.
    /// Parameters are meant to be equal on every rank, so only a fault on one rank makes
    /// them differ; the bit travels with the gradients like the others.
    public var parametersNonFinite = false
    /// Seconds spent waiting for reductions after the backward pass ended (not hidden).
    public private(set) var exposedSeconds = 0.0

    /// Measured on Open MPI 4.1 over shared memory (docs/performance.md), its non-blocking
    /// allreduce left more waiting after the backward pass than one blocking allreduce takes,
    /// so by default (`bucketBytes` nil) the whole buffer is reduced once, blocking, after the
    /// backward pass; buckets are for links slow enough that overlap pays (`--bucket-mib`).
    public let overlap: Bool

    public init(network: Network, comm: any Communicator, bucketBytes: Int? = nil) {
        self.network = network
        self.comm = comm
        overlap = bucketBytes != nil
        let bucketBytes = bucketBytes ?? Int.max
        let p = network.parameterCount
        var out: [(Int, Range<Int>)] = []
        var end = p + Network.tailSlots, floats = 0
        for i in stride(from: network.layers.count - 1, through: 0, by: -1) {
            floats += network.layers[i].parameterCount
            if floats * 4 >= bucketBytes || i == 0 {
                let start = network.parameterOffsets[i]
                out.append((i, start..<end))
                end = start; floats = 0
            }
        }
        buckets = out
    }

    /// Starts a step: `loss` (this rank's unscaled loss) and the stop request go in the tail.
    public func willBackward(loss: Double, stop: Bool = false) {
        let loss = injectLossNaN ? Double.nan : loss
        pending = []; started = 0; failure = nil
        localCode = (loss.isFinite ? 0 : 1) | (parametersNonFinite ? 4 : 0)
        let g = network.gradients.pointer, p = network.parameterCount
        g[p + Tail.loss.rawValue] = loss.isFinite ? Float(loss) : 0
        g[p + Tail.stop.rawValue] = stopRequested ? 1 : 0
        g[p + Tail.nonFinite.rawValue] = 0
        // Filled by the scan of the one bucket; unknown (∞) when the first of several buckets
        // leaves before the others are scanned.
        g[p + Tail.gradientMagnitude.rawValue] = buckets.count == 1 ? 0 : .infinity
    }

    /// Set before each step by the trainer.
    public var stopRequested = false

    /// Scans this rank's parameters before a step's forward pass (unless their largest magnitude
    /// is `known`: the last update measured it): sets `parametersNonFinite` and returns the
    /// largest |parameter| (the optimizer's bound, `SGD.stepIfFinite`).
    public func scanParameters(known: Float? = nil) -> Float {
        let largest = known ?? Self.maxMagnitude(network.parameters.pointer, count: network.parameterCount)
        parametersNonFinite = !largest.isFinite
        return largest
    }

    /// Layer i's backward is done: with overlap, start every bucket whose layers are all
    /// done and let the ones in flight progress.
    public func layerDone(_ i: Int) {
        guard overlap, failure == nil else { return }
        do {
            try startBuckets(through: i)
            for r in pending { try r.poll() }
        } catch {
            failure = error
        }
    }

    /// Starts the buckets whose first layer is at or after `layer`, after scanning each for
    /// non-finite values; the first one carries the flag in the tail. Without overlap the
    /// single bucket is reduced at once, blocking.
    private func startBuckets(through layer: Int) throws {
        let g = network.gradients.pointer, p = network.parameterCount
        while started < buckets.count && buckets[started].firstLayer >= layer {
            let range = buckets[started].range
            if injectNaN && range.contains(0) { g[0] = .nan }
            let scanned = min(range.upperBound, p) - range.lowerBound
            let largest = Self.maxMagnitude(g + range.lowerBound, count: scanned)
            if !largest.isFinite { localCode |= 2 }
            if started == 0 {
                g[p + Tail.nonFinite.rawValue] = localCode != 0 ? 1 : 0
                if buckets.count == 1 { g[p + Tail.gradientMagnitude.rawValue] = largest }
            }
            let slice = UnsafeMutableBufferPointer(start: g + range.lowerBound, count: range.count)
            if overlap {
                pending.append(try comm.startAllreduceSum(slice))
            } else {
                try comm.allreduceSum(slice)
            }
            started += 1
        }
    }

    /// Waits for every bucket (without overlap: reduces the one bucket now). Afterwards the
    /// gradient buffer holds the sums over ranks. The time spent here is the reduction
    /// time the backward pass did not hide.
    public func finish() throws {
        if let failure { throw failure }
        let t0 = PhaseTimes.now()
        if !overlap { try startBuckets(through: 0) }
        precondition(started == buckets.count, "backward did not report every layer")
        for r in pending { try r.wait() }
        exposedSeconds += PhaseTimes.now() - t0
    }

    /// True when no value is NaN or ±∞.
    public static func allFinite(_ values: UnsafePointer<Float>, count: Int) -> Bool {
        maxMagnitude(values, count: count).isFinite
    }

    /// The largest |value| (0 for none; NaN if one is NaN, else ∞ if one is infinite): an
    /// integer max of the bit patterns, which vectorises, unlike a float sum that must keep its
    /// order.
    public static func maxMagnitude(_ values: UnsafePointer<Float>, count: Int) -> Float {
        count <= 0 ? 0 : dtk_max_magnitude(values, count)
    }

    /// After `finish`: a bound on every reduced gradient's magnitude (the sum of the ranks'
    /// largest), or nil when not known (several buckets, or a non-finite value).
    public var gradientMagnitude: Float? {
        let bound = network.gradients.pointer[network.parameterCount + Tail.gradientMagnitude.rawValue]
        return buckets.count == 1 && bound.isFinite ? bound : nil
    }

    /// True when some rank flagged a non-finite loss, gradient or parameter (the first bucket
    /// carried the flag; a non-finite gradient anywhere makes the reduced sums non-finite).
    public var sawNonFinite: Bool {
        let g = network.gradients.pointer, p = network.parameterCount
        if g[p + Tail.nonFinite.rawValue] > 0 { return true }
        // With one bucket the flag already covered every rank's whole gradient.
        guard buckets.count > 1 else { return false }
        return !Self.allFinite(g, count: p)
    }
}

import NeuralCore

/// Hyper-parameters of the L∞ Square Attack (Andriushchenko et al. 2020) with the margin
/// loss. The defaults are AutoAttack's (5000 queries, p_init 0.8, no rescaled schedule).
public struct SquareSettings: Sendable, Equatable {
    public var epsilon: Float
    /// Iterations per run (one forward each).
    public var queries: Int
    /// Initial fraction of the image covered by a square.
    public var pInit: Double
    public var restarts: Int
    /// `resc_schedule`: stretch the p schedule (written for 10 000 queries) to `queries`.
    /// AutoAttack turns it off.
    public var rescaleSchedule: Bool

    public init(epsilon: Float, queries: Int = 5000, pInit: Double = 0.8, restarts: Int = 1,
                rescaleSchedule: Bool = false) {
        self.epsilon = epsilon
        self.queries = queries
        self.pInit = pInit
        self.restarts = restarts
        self.rescaleSchedule = rescaleSchedule
    }

    /// `p_selection`: p_init halved at iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000.
    public func p(iteration: Int) -> Double {
        let it = rescaleSchedule ? Int(Double(iteration) / Double(queries) * 10000) : iteration
        let thresholds = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000]
        let halvings = thresholds.filter { it > $0 }.count
        return pInit / Double(1 << halvings)
    }

    /// Side of the square at an iteration: max(round(√(p·c·h·w / c)), 1), rounding half to even
    /// as Python's `round`.
    public func side(iteration: Int, shape: Shape) -> Int {
        let v = (p(iteration: iteration) * Double(shape.count) / Double(shape.channels)).squareRoot()
        return max(Int(v.rounded(.toNearestOrEven)), 1)
    }
}

/// L∞ Square Attack as `autoattack/square.py` (`SquareAttack`, norm 'Linf', loss 'margin'),
/// sample by sample. Start: x plus ±ε on vertical stripes (one sign per channel and column).
/// Each iteration draws a square of side s (shrinking with p) at a random position and a
/// sign per channel, sets that square of δ to ±ε — i.e. moves it to a vertex of the ε-ball —
/// and keeps the new point when the margin z_y − max_{i≠y} z_i decreases (or is ≤ 0). A
/// sample stops once its margin is ≤ 0. Every draw comes from a stream keyed by (seed,
/// test index, restart), consumed by that sample alone; the reference draws one square
/// position per batch, here each sample draws its own, so batching cannot matter.
public final class SquareAttack: RobustnessAttack {
    public let network: Network
    public var settings: SquareSettings
    public var seed: UInt64
    public var name: String { "square" }
    static let stream: UInt64 = 0x5C0A_0001

    private let batch: ActiveBatch
    private var capacity = 0
    private var best = FloatBuffer(count: 0)
    private var marginMin: [Float] = [], lossMin: [Float] = []
    private var rngs: [KeyedRandom] = []

    public init(network: Network, settings: SquareSettings, seed: UInt64 = 0) {
        self.network = network
        self.settings = settings
        self.seed = seed
        batch = ActiveBatch(network: network)
    }

    private func reserve(_ n: Int) {
        guard n > capacity else { return }
        best = FloatBuffer(count: n * network.inputShape.count)
        marginMin = .init(repeating: 0, count: n); lossMin = marginMin
        rngs = .init(repeating: KeyedRandom(seed: 0), count: n)
        batch.reserve(n)
        capacity = n
    }

    public func perturb(_ x: UnsafePointer<Float>, labels: UnsafePointer<Int32>, indices: UnsafePointer<Int64>, n: Int,
                        output: UnsafeMutablePointer<Float>, fooled: UnsafeMutablePointer<Bool>) {
        guard n > 0 else { return }
        precondition(settings.queries >= 0 && settings.restarts >= 1)
        reserve(n)
        let d = network.inputShape.count, k = network.classes
        output.update(from: x, count: n * d)
        let logits = network.forward(x, batch: n)
        for i in 0..<n { fooled[i] = Energy.argmax(logits + i * k, k) != Int(labels[i]) }
        for restart in 0..<settings.restarts {
            let slots = (0..<n).filter { !fooled[$0] }
            if slots.isEmpty { return }
            singleRun(slots, x: x, labels: labels, indices: indices, restart: restart)
            for s in slots where marginMin[s] <= 0 {
                fooled[s] = true
                (output + s * d).update(from: best.pointer + s * d, count: d)
            }
        }
    }

    @inline(__always)
    private static func randomSign(_ rng: inout KeyedRandom) -> Float { rng.next() >> 63 == 0 ? 1 : -1 }

    private func singleRun(_ slots: [Int], x: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
                           indices: UnsafePointer<Int64>, restart: Int) {
        let shape = network.inputShape
        let c = shape.channels, h = shape.height, w = shape.width, d = shape.count, k = network.classes
        let eps = settings.epsilon
        for s in slots {
            var rng = KeyedRandom(seed: seed, keys: SquareAttack.stream, UInt64(bitPattern: indices[s]), UInt64(restart))
            let xs = x + s * d, b = best.pointer + s * d
            for ch in 0..<c {
                for col in 0..<w {
                    let v = eps * SquareAttack.randomSign(&rng)
                    for row in 0..<h { let j = ch * h * w + row * w + col; b[j] = clip01(xs[j] + v) }
                }
            }
            rngs[s] = rng
        }
        batch.gather(best.pointer, slots: slots)
        let start = batch.forward(slots.count)
        for (j, s) in slots.enumerated() {
            marginMin[s] = DLR.margin(start + j * k, k, label: Int(labels[s]))
            lossMin[s] = marginMin[s]
        }
        var active = slots
        for iteration in 0..<settings.queries {
            active.removeAll { marginMin[$0] <= 0 }
            if active.isEmpty { break }
            let side = settings.side(iteration: iteration, shape: shape)
            batch.gather(best.pointer, slots: active)
            for (j, s) in active.enumerated() {
                var rng = rngs[s]
                let top = Int(rng.nextFloat() * Float(h - side)), left = Int(rng.nextFloat() * Float(w - side))
                let xs = x + s * d, row = batch.input.pointer + j * d
                for ch in 0..<c {
                    let v = 2 * eps * SquareAttack.randomSign(&rng)
                    for r in top..<min(top + side, h) {
                        for col in left..<min(left + side, w) {
                            let i = ch * h * w + r * w + col
                            row[i] = clip01(min(max(row[i] + v, xs[i] - eps), xs[i] + eps))
                        }
                    }
                }
                rngs[s] = rng
            }
            let logits = batch.forward(active.count)
            for (j, s) in active.enumerated() {
                let margin = DLR.margin(logits + j * k, k, label: Int(labels[s]))
                let improved = margin < lossMin[s]
                if improved { lossMin[s] = margin }
                if improved || margin <= 0 {
                    marginMin[s] = margin
                    (best.pointer + s * d).update(from: batch.input.pointer + j * d, count: d)
                }
            }
        }
    }
}

import NeuralCore

/// The batch of samples an attack is still working on. Each sample keeps its state in its
/// own slot; every step gathers the current points of the active slots into one contiguous
/// batch, so one forward (and backward) serves samples at different stages, and a sample
/// that is done simply leaves the list. Nothing about a sample depends on which other
/// samples share its batch.
final class ActiveBatch {
    let network: Network
    let d: Int, k: Int
    private(set) var capacity = 0
    private(set) var input = FloatBuffer(count: 0)
    private(set) var dLogits = FloatBuffer(count: 0)
    private(set) var gradient = FloatBuffer(count: 0)

    init(network: Network) {
        self.network = network
        d = network.inputShape.count
        k = network.classes
    }

    func reserve(_ n: Int) {
        guard n > capacity else { return }
        input = FloatBuffer(count: n * d)
        dLogits = FloatBuffer(count: n * k)
        gradient = FloatBuffer(count: n * d)
        capacity = n
    }

    /// input row j ← row slots[j] of `source` (rows of d floats).
    func gather(_ source: UnsafePointer<Float>, slots: [Int]) {
        reserve(max(slots.count, 1))
        for (j, s) in slots.enumerated() { (input.pointer + j * d).update(from: source + s * d, count: d) }
    }

    /// Logits (m, k) of the first m input rows.
    @discardableResult
    func forward(_ m: Int) -> UnsafeMutablePointer<Float> { network.forward(input.pointer, batch: m) }

    /// gradient ← dL/dx for the last forward, from `dLogits`; parameter gradients untouched.
    func backward() {
        network.backward(dLogits.pointer, parameterGradients: false, inputGradient: gradient.pointer)
    }
}

/// Per-sample predictions of `network` at n inputs.
func predictions(_ network: Network, _ x: UnsafePointer<Float>, n: Int) -> [Int] {
    guard n > 0 else { return [] }
    let k = network.classes
    let logits = network.forward(x, batch: n)
    return (0..<n).map { Energy.argmax(logits + $0 * k, k) }
}

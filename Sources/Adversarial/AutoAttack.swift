import NeuralCore

/// AutoAttack, standard version, L∞ (Croce & Hein 2020): APGD-CE, then APGD-T, FAB-T and
/// Square, each on the samples the previous ones left robust; x* of a sample is the first
/// point that made it misclassified, checked with a forward pass as the reference does.
/// The components are those of `AttackSuite` with the same settings.
public final class AutoAttack: RobustnessAttack {
    public let suite: AttackSuite
    public var name: String { "aa" }
    /// Samples left robust after each component of the last `perturb` (clean first).
    public private(set) var robustAfter: [(RobustAttack, Int)] = []

    public init(network: Network, settings: AttackSuiteSettings) {
        suite = AttackSuite(network: network, settings: settings)
    }

    public func perturb(_ x: UnsafePointer<Float>, labels: UnsafePointer<Int32>, indices: UnsafePointer<Int64>, n: Int,
                        output: UnsafeMutablePointer<Float>, fooled: UnsafeMutablePointer<Bool>) {
        guard n > 0 else { return }
        let d = suite.network.inputShape.count
        output.update(from: x, count: n * d)
        let p = predictions(suite.network, x, n: n)
        var robust = (0..<n).map { p[$0] == Int(labels[$0]) }
        robustAfter = [(.clean, robust.filter { $0 }.count)]
        let step = FloatBuffer(count: n * d)
        for component in RobustAttack.autoAttackSequence {
            let before = robust
            suite.run(component, x, labels: labels, indices: indices, n: n, robust: &robust, output: step.pointer)
            for i in 0..<n where before[i] && !robust[i] {
                (output + i * d).update(from: step.pointer + i * d, count: d)
            }
            robustAfter.append((component, robust.filter { $0 }.count))
        }
        for i in 0..<n { fooled[i] = !robust[i] }
    }
}

import NeuralCore

#if canImport(Glibc)
import Glibc
#endif

/// An evaluation attack run sample by sample: for n samples (x in [0, 1], NCHW) it writes x*
/// (in the ε-ball around x and in [0, 1]) and says which samples it made misclassified. A
/// sample's result depends only on the sample, its test-set index (which keys any
/// randomness) and the seed, never on the other samples of the batch.
public protocol RobustnessAttack: AnyObject {
    var name: String { get }
    func perturb(_ x: UnsafePointer<Float>, labels: UnsafePointer<Int32>, indices: UnsafePointer<Int64>, n: Int,
                 output: UnsafeMutablePointer<Float>, fooled: UnsafeMutablePointer<Bool>)
}

/// The names `dist-train eval --attack` accepts.
public enum RobustAttack: String, CaseIterable, Sendable {
    case clean, fgsm, pgd
    case apgdCE = "apgd-ce", apgdT = "apgd-t", fabT = "fab-t", square
    /// AutoAttack, standard version: APGD-CE, APGD-T, FAB-T, Square, each on the samples the
    /// previous ones left robust.
    case aa

    public static let autoAttackSequence: [RobustAttack] = [.apgdCE, .apgdT, .fabT, .square]

    /// Parses a comma-separated list ("clean,pgd,aa"); repeated names count once.
    public static func parseList(_ text: String) throws(AttackListError) -> [RobustAttack] {
        var out: [RobustAttack] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let name = String(part.filter { !$0.isWhitespace })
            guard let a = RobustAttack(rawValue: name) else { throw AttackListError(name: name) }
            if !out.contains(a) { out.append(a) }
        }
        return out
    }
}

public struct AttackListError: Error, CustomStringConvertible {
    public let name: String
    public var description: String {
        "unknown attack '\(name)' (known: \(RobustAttack.allCases.map(\.rawValue).joined(separator: ", ")))"
    }
}

/// Everything that sets up the suite's attacks. The defaults are the reference ones
/// (AutoAttack standard, L∞); tests lower the iteration counts.
public struct AttackSuiteSettings: Sendable, Equatable {
    public var epsilon: Float
    public var seed: UInt64
    /// Restarts of PGD and of every AutoAttack component.
    public var restarts: Int
    public var pgdSteps: Int
    public var apgdIterations: Int
    public var fabIterations: Int
    public var targetClasses: Int
    public var squareQueries: Int

    public init(epsilon: Float, seed: UInt64 = 0, restarts: Int = 1, pgdSteps: Int = 10, apgdIterations: Int = 100,
                fabIterations: Int = 100, targetClasses: Int = 9, squareQueries: Int = 5000) {
        self.epsilon = epsilon
        self.seed = seed
        self.restarts = restarts
        self.pgdSteps = pgdSteps
        self.apgdIterations = apgdIterations
        self.fabIterations = fabIterations
        self.targetClasses = targetClasses
        self.squareQueries = squareQueries
    }
}

/// FGSM or PGD of `Attacker` in the suite's interface; PGD random starts are keyed by
/// (seed, evaluation stream, epoch 0, test index, restart), as the trainer's evaluation.
public final class AttackerAttack: RobustnessAttack {
    public let attacker: Attacker
    public let settings: AttackSettings
    public let seed: UInt64
    public var name: String { settings.kind.rawValue }

    public init(network: Network, settings: AttackSettings, seed: UInt64) {
        attacker = Attacker(network: network)
        self.settings = settings
        self.seed = seed
    }

    public func perturb(_ x: UnsafePointer<Float>, labels: UnsafePointer<Int32>, indices: UnsafePointer<Int64>, n: Int,
                        output: UnsafeMutablePointer<Float>, fooled: UnsafeMutablePointer<Bool>) {
        guard n > 0 else { return }
        attacker.perturb(x, labels: labels, n: n, settings: settings, seed: seed, stream: .evaluation, epoch: 0,
                         indices: indices, output: output)
        let p = predictions(attacker.network, output, n: n)
        for i in 0..<n { fooled[i] = p[i] != Int(labels[i]) }
    }
}

/// Runs the attacks of `dist-train eval` on a batch of samples and reports, per attack,
/// which samples stay robust: classified correctly at x and at the attack's x*. Each attack
/// runs only on the samples classified correctly at x, and its verdict is checked with a
/// forward pass at x*, as AutoAttack does.
///
/// `aa` runs the AutoAttack sequence on the samples still robust. A component that was also
/// requested on its own is not run twice: since every attack is per sample and keyed by the
/// test index, its run on the robust subset would repeat the same per-sample results, so
/// its flags are reused.
public final class AttackSuite {
    public let network: Network
    public let settings: AttackSuiteSettings
    /// Wall-clock seconds spent in each attack so far (clean: the clean forward).
    public private(set) var seconds: [RobustAttack: Double] = [:]
    private var attacks: [RobustAttack: any RobustnessAttack] = [:]

    public init(network: Network, settings: AttackSuiteSettings) {
        self.network = network
        self.settings = settings
    }

    /// The attack behind a name (nil for clean and aa), created on first use.
    public func attack(_ kind: RobustAttack) -> (any RobustnessAttack)? {
        if let a = attacks[kind] { return a }
        let s = settings, eps = s.epsilon
        let a: (any RobustnessAttack)?
        switch kind {
        case .clean, .aa: a = nil
        case .fgsm: a = AttackerAttack(network: network, settings: AttackSettings(kind: .fgsm, epsilon: eps), seed: s.seed)
        case .pgd:
            a = AttackerAttack(network: network, settings: AttackSettings(kind: .pgd, epsilon: eps, steps: s.pgdSteps,
                                                                          restarts: s.restarts), seed: s.seed)
        case .apgdCE:
            a = APGDAttack(network: network, settings: APGDSettings(epsilon: eps, loss: .crossEntropy, iterations: s.apgdIterations,
                                                                    restarts: s.restarts), seed: s.seed)
        case .apgdT:
            a = APGDAttack(network: network, settings: APGDSettings(epsilon: eps, loss: .targetedDLR, iterations: s.apgdIterations,
                                                                    restarts: s.restarts, targetClasses: s.targetClasses), seed: s.seed)
        case .fabT:
            a = FABAttack(network: network, settings: FABSettings(epsilon: eps, iterations: s.fabIterations, restarts: s.restarts,
                                                                  targetClasses: s.targetClasses), seed: s.seed)
        case .square:
            a = SquareAttack(network: network, settings: SquareSettings(epsilon: eps, queries: s.squareQueries,
                                                                        restarts: s.restarts), seed: s.seed)
        }
        attacks[kind] = a
        return a
    }

    /// Robust flags of n samples for each of `kinds` (clean always included).
    public func evaluate(_ x: UnsafePointer<Float>, labels: UnsafePointer<Int32>, indices: UnsafePointer<Int64>, n: Int,
                         attacks kinds: [RobustAttack]) -> [RobustAttack: [Bool]] {
        var t0 = now()
        let p = predictions(network, x, n: n)
        let clean = (0..<n).map { p[$0] == Int(labels[$0]) }
        seconds[.clean, default: 0] += now() - t0
        var result: [RobustAttack: [Bool]] = [.clean: clean]
        for kind in kinds where kind != .clean && kind != .aa {
            t0 = now()
            var robust = clean
            run(kind, x, labels: labels, indices: indices, n: n, robust: &robust)
            result[kind] = robust
            seconds[kind, default: 0] += now() - t0
        }
        if kinds.contains(.aa) {
            t0 = now()
            var robust = clean
            for component in RobustAttack.autoAttackSequence {
                if let known = result[component] {
                    for i in 0..<n { robust[i] = robust[i] && known[i] }
                } else {
                    run(component, x, labels: labels, indices: indices, n: n, robust: &robust)
                }
            }
            result[.aa] = robust
            seconds[.aa, default: 0] += now() - t0
        }
        return result
    }

    /// Attacks the samples whose flag is set and clears the flag of each one misclassified at
    /// its x*; writes x* (x for the samples not attacked) into `output` when given.
    public func run(_ kind: RobustAttack, _ x: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
                    indices: UnsafePointer<Int64>, n: Int, robust: inout [Bool],
                    output: UnsafeMutablePointer<Float>? = nil) {
        precondition(robust.count == n)
        let d = network.inputShape.count
        output?.update(from: x, count: n * d)
        guard let attack = attack(kind) else { return }
        let slots = (0..<n).filter { robust[$0] }
        guard !slots.isEmpty else { return }
        let m = slots.count
        let xs = FloatBuffer(count: m * d), out = FloatBuffer(count: m * d)
        var ys = [Int32](repeating: 0, count: m), ix = [Int64](repeating: 0, count: m)
        var fooled = [Bool](repeating: false, count: m)
        for (j, s) in slots.enumerated() {
            (xs.pointer + j * d).update(from: x + s * d, count: d)
            ys[j] = labels[s]; ix[j] = indices[s]
        }
        ys.withUnsafeBufferPointer { y in
            ix.withUnsafeBufferPointer { i in
                fooled.withUnsafeMutableBufferPointer { f in
                    attack.perturb(xs.pointer, labels: y.baseAddress!, indices: i.baseAddress!, n: m,
                                   output: out.pointer, fooled: f.baseAddress!)
                }
            }
        }
        let p = predictions(network, out.pointer, n: m)
        for (j, s) in slots.enumerated() {
            if p[j] != Int(ys[j]) { robust[s] = false }
            output.map { ($0 + s * d).update(from: out.pointer + j * d, count: d) }
        }
    }

    private func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
    }
}

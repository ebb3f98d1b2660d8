@testable import Adversarial
import NeuralCore
import TestSupport
import XCTest

/// A ten-class toy problem for the evaluation attacks (the targeted ones need ≥ 4 classes):
/// 1×8×8 images, class c = 0.25 + 0.5·prototype_c plus uniform noise, and an mlp trained on
/// it with full-batch SGD with momentum (100% clean accuracy). Shared by the AutoAttack, APGD, FAB and Square tests.
enum RobustFixtures {
    static let shape = Shape(1, 8, 8)
    static let classes = 10

    static func data(count: Int, seed: UInt64, noise: Float = 0.2) -> (images: [Float], labels: [Int32]) {
        let d = shape.count
        let prototypes = (0..<classes).map { c -> [Float] in
            var rng = KeyedRandom(seed: 2024, keys: UInt64(c))
            return (0..<d).map { _ in rng.nextFloat() }
        }
        var rng = KeyedRandom(seed: seed, keys: 91)
        var images: [Float] = [], labels: [Int32] = []
        for i in 0..<count {
            let c = i % classes
            labels.append(Int32(c))
            for j in 0..<d { images.append(min(max(0.25 + 0.5 * prototypes[c][j] + rng.uniform(noise), 0), 1)) }
        }
        return (images, labels)
    }

    /// The mlp after `steps` full-batch SGD steps (lr 0.05, momentum 0.9) on 200 samples;
    /// deterministic.
    static func trainedMLP(steps: Int = 100) -> Network {
        let net = ModelKind.mlp.build(input: shape, classes: classes)
        net.initialize(seed: 17)
        let train = data(count: 200, seed: 1)
        let n = train.labels.count, k = classes
        let objective = EnergyObjective(mode: .off, beta: 0, gamma: 0)
        var dLogits = [Float](repeating: 0, count: n * k)
        var velocity = [Float](repeating: 0, count: net.parameterCount)
        train.images.withUnsafeBufferPointer { x in
            train.labels.withUnsafeBufferPointer { y in
                for _ in 0..<steps {
                    let logits = net.forward(x.baseAddress!, batch: n)
                    dLogits.withUnsafeMutableBufferPointer { g in
                        _ = objective.computeClean(logits: logits, n: n, classes: k, labels: y.baseAddress!,
                                                   scale: 1 / Float(n), dLogits: g.baseAddress!)
                        net.zeroGradients()
                        net.backward(g.baseAddress!, parameterGradients: true)
                    }
                    for j in 0..<net.parameterCount {
                        velocity[j] = 0.9 * velocity[j] + net.gradients.pointer[j]
                        net.parameters.pointer[j] -= 0.05 * velocity[j]
                    }
                }
            }
        }
        return net
    }

    static func accuracy(_ net: Network, _ x: [Float], labels: [Int32]) -> Double {
        let p = x.withUnsafeBufferPointer { predictions(net, $0.baseAddress!, n: labels.count) }
        return Double((0..<labels.count).filter { p[$0] == Int(labels[$0]) }.count) / Double(labels.count)
    }

    /// Runs an attack on arrays: (x*, fooled).
    static func run(_ attack: any RobustnessAttack, _ x: [Float], labels: [Int32], indices: [Int64]) -> ([Float], [Bool]) {
        var out = [Float](repeating: .nan, count: x.count)
        var fooled = [Bool](repeating: false, count: labels.count)
        x.withUnsafeBufferPointer { xp in
            labels.withUnsafeBufferPointer { y in
                indices.withUnsafeBufferPointer { ix in
                    out.withUnsafeMutableBufferPointer { o in
                        fooled.withUnsafeMutableBufferPointer { f in
                            attack.perturb(xp.baseAddress!, labels: y.baseAddress!, indices: ix.baseAddress!, n: labels.count,
                                           output: o.baseAddress!, fooled: f.baseAddress!)
                        }
                    }
                }
            }
        }
        return (out, fooled)
    }

    /// Every x* in [0, 1] and within ε of x (plus float rounding of x ± ε).
    static func assertInBallAndBox(_ out: [Float], _ x: [Float], eps: Float, _ what: String,
                                   file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(out.count, x.count, file: file, line: line)
        var worst: Float = 0
        for j in 0..<x.count {
            XCTAssert(out[j] >= 0 && out[j] <= 1, "\(what): x*[\(j)] = \(out[j]) outside [0, 1]", file: file, line: line)
            worst = max(worst, abs(out[j] - x[j]))
        }
        XCTAssertLessThanOrEqual(worst, eps + 1e-6, "\(what): ‖x* − x‖∞ = \(worst) > ε = \(eps)", file: file, line: line)
    }

    /// Reduced-cost settings for the tests (the CLI keeps the reference defaults).
    static func quickSettings(eps: Float) -> AttackSuiteSettings {
        AttackSuiteSettings(epsilon: eps, seed: 3, restarts: 1, pgdSteps: 20, apgdIterations: 30, fabIterations: 20,
                            targetClasses: 9, squareQueries: 1000)
    }

    /// PGD-20 leaves about 17% of the toy test set robust, Square with 1000 queries 68%.
    static let eps: Float = 0.1
}

final class AutoAttackTests: XCTestCase {
    func testAttackListParsing() throws {
        XCTAssertEqual(try RobustAttack.parseList("clean,pgd,aa"), [.clean, .pgd, .aa])
        XCTAssertEqual(try RobustAttack.parseList("apgd-ce, apgd-t,fab-t,square,apgd-ce"), [.apgdCE, .apgdT, .fabT, .square])
        XCTAssertThrowsError(try RobustAttack.parseList("pgd,cw")) { error in
            XCTAssert("\(error)".contains("'cw'") && "\(error)".contains("apgd-ce"), "\(error)")
        }
        XCTAssertThrowsError(try RobustAttack.parseList("pgd,,aa"))
        XCTAssertEqual(RobustAttack.autoAttackSequence, [.apgdCE, .apgdT, .fabT, .square])
    }

    func testToyModelLearned() {
        let net = RobustFixtures.trainedMLP()
        let test = RobustFixtures.data(count: 100, seed: 2)
        XCTAssertGreaterThan(RobustFixtures.accuracy(net, test.images, labels: test.labels), 0.95)
    }

    /// Each AutoAttack component, run alone, lowers the accuracy; every x* is in the ball.
    func testEachComponentLowersAccuracy() {
        let net = RobustFixtures.trainedMLP()
        let test = RobustFixtures.data(count: 60, seed: 2)
        let indices = (0..<60).map { Int64(1000 + $0) }
        let suite = AttackSuite(network: net, settings: RobustFixtures.quickSettings(eps: RobustFixtures.eps))
        let flags = test.images.withUnsafeBufferPointer { x in
            test.labels.withUnsafeBufferPointer { y in
                indices.withUnsafeBufferPointer { ix in
                    suite.evaluate(x.baseAddress!, labels: y.baseAddress!, indices: ix.baseAddress!, n: 60,
                                   attacks: RobustAttack.autoAttackSequence)
                }
            }
        }
        let clean = flags[.clean]!.filter { $0 }.count
        XCTAssertGreaterThan(clean, 50)
        for a in RobustAttack.autoAttackSequence {
            let robust = flags[a]!.filter { $0 }.count
            XCTAssertLessThan(robust, clean - 5, "\(a.rawValue) lowers the accuracy: \(robust) of clean \(clean)")
            for i in 0..<60 where flags[a]![i] { XCTAssert(flags[.clean]![i], "\(a.rawValue): robust implies clean-correct") }
        }
    }

    /// `aa` run on its own (no shared component results) is never above any component run on
    /// its own: every attack is per sample, so a sample AA leaves robust survived each one.
    func testAANeverAboveItsComponents() {
        let net = RobustFixtures.trainedMLP()
        let test = RobustFixtures.data(count: 60, seed: 4)
        let indices = (0..<60).map { Int64($0) }
        func count(_ kinds: [RobustAttack]) -> [RobustAttack: [Bool]] {
            let suite = AttackSuite(network: net, settings: RobustFixtures.quickSettings(eps: RobustFixtures.eps))
            return test.images.withUnsafeBufferPointer { x in
                test.labels.withUnsafeBufferPointer { y in
                    indices.withUnsafeBufferPointer { ix in
                        suite.evaluate(x.baseAddress!, labels: y.baseAddress!, indices: ix.baseAddress!, n: 60, attacks: kinds)
                    }
                }
            }
        }
        let aa = count([.aa])[.aa]!
        let components = count(RobustAttack.autoAttackSequence)
        for a in RobustAttack.autoAttackSequence {
            for i in 0..<60 where aa[i] { XCTAssert(components[a]![i], "sample \(i) robust under aa but not under \(a.rawValue)") }
            XCTAssertLessThanOrEqual(aa.filter { $0 }.count, components[a]!.filter { $0 }.count, a.rawValue)
        }
        // And with the components requested too, aa is their intersection with clean.
        let both = count([.aa] + RobustAttack.autoAttackSequence)
        XCTAssertEqual(both[.aa]!, aa)
    }

    /// AutoAttack's x* is in the ball and box; the samples it reports fooled are misclassified.
    func testAutoAttackOutputs() {
        let net = RobustFixtures.trainedMLP()
        let test = RobustFixtures.data(count: 40, seed: 5)
        let indices = (0..<40).map { Int64($0) }
        let aa = AutoAttack(network: net, settings: RobustFixtures.quickSettings(eps: RobustFixtures.eps))
        let (out, fooled) = RobustFixtures.run(aa, test.images, labels: test.labels, indices: indices)
        RobustFixtures.assertInBallAndBox(out, test.images, eps: RobustFixtures.eps, "aa")
        let p = out.withUnsafeBufferPointer { predictions(net, $0.baseAddress!, n: 40) }
        for i in 0..<40 { XCTAssertEqual(fooled[i], p[i] != Int(test.labels[i]), "sample \(i)") }
        XCTAssertEqual(aa.robustAfter.map(\.0), [.clean] + RobustAttack.autoAttackSequence)
        let counts = aa.robustAfter.map(\.1)
        XCTAssertEqual(counts, counts.sorted(by: >), "each component only removes samples")
        XCTAssertEqual(counts.last, fooled.filter { !$0 }.count)
        XCTAssertLessThan(counts.last!, counts.first!)
    }

    /// Splitting the samples into other batches (as other rank counts do) gives the same flags.
    func testResultsDoNotDependOnBatching() {
        let net = RobustFixtures.trainedMLP()
        let test = RobustFixtures.data(count: 30, seed: 6)
        let indices = (0..<30).map { Int64(500 + $0) }
        let d = RobustFixtures.shape.count
        let kinds: [RobustAttack] = [.pgd, .aa]
        func flags(_ range: Range<Int>) -> [RobustAttack: [Bool]] {
            let suite = AttackSuite(network: net, settings: RobustFixtures.quickSettings(eps: RobustFixtures.eps))
            let x = Array(test.images[(range.lowerBound * d)..<(range.upperBound * d)])
            let y = Array(test.labels[range]), ix = Array(indices[range])
            return x.withUnsafeBufferPointer { xp in
                y.withUnsafeBufferPointer { yp in
                    ix.withUnsafeBufferPointer { ip in
                        suite.evaluate(xp.baseAddress!, labels: yp.baseAddress!, indices: ip.baseAddress!,
                                       n: range.count, attacks: kinds)
                    }
                }
            }
        }
        let whole = flags(0..<30)
        let parts = [flags(0..<7), flags(7..<19), flags(19..<30)]
        for a in [RobustAttack.clean] + kinds {
            XCTAssertEqual(whole[a]!, parts.flatMap { $0[a]! }, a.rawValue)
        }
    }
}

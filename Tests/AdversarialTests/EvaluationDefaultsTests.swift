@testable import Adversarial
import NeuralCore
import XCTest

/// The evaluation defaults are AutoAttack's standard L∞ ones (autoattack/autoattack.py,
/// version "standard"), both in the settings types and in the attacks `AttackSuite` builds
/// from its own defaults, which is what `dist-train eval` runs.
final class EvaluationDefaultsTests: XCTestCase {
    func testSettingsDefaultsAreTheReferenceOnes() {
        let apgd = APGDSettings(epsilon: 0.1)
        XCTAssertEqual(apgd.loss, .crossEntropy)
        XCTAssertEqual(apgd.iterations, 100, "APGD n_iter")
        XCTAssertEqual(apgd.restarts, 1, "APGD n_restarts")
        XCTAssertEqual(apgd.momentum, 0.75, "APGD momentum α")
        XCTAssertEqual(apgd.rho, 0.75, "APGD ρ")
        XCTAssertEqual(apgd.targetClasses, 9, "APGD-T n_target_classes")

        let fab = FABSettings(epsilon: 0.1)
        XCTAssertEqual(fab.iterations, 100, "FAB n_iter")
        XCTAssertEqual(fab.restarts, 1, "FAB n_restarts")
        XCTAssertEqual(fab.targetClasses, 9, "FAB-T n_target_classes")
        XCTAssertEqual(fab.alphaMax, 0.1, "FAB alpha_max")
        XCTAssertEqual(fab.eta, 1.05, "FAB eta")
        XCTAssertEqual(fab.beta, 0.9, "FAB beta")

        let square = SquareSettings(epsilon: 0.1)
        XCTAssertEqual(square.queries, 5000, "Square n_queries")
        XCTAssertEqual(square.pInit, 0.8, "Square p_init")
        XCTAssertEqual(square.restarts, 1, "Square n_restarts")
        XCTAssertFalse(square.rescaleSchedule, "AutoAttack sets resc_schedule=False")

        let suite = AttackSuiteSettings(epsilon: 0.1)
        XCTAssertEqual(suite.seed, 0)
        XCTAssertEqual(suite.restarts, 1)
        XCTAssertEqual(suite.apgdIterations, 100)
        XCTAssertEqual(suite.fabIterations, 100)
        XCTAssertEqual(suite.targetClasses, 9)
        XCTAssertEqual(suite.squareQueries, 5000)
        XCTAssertEqual(suite.pgdSteps, 10)

        XCTAssertEqual(RobustAttack.autoAttackSequence, [.apgdCE, .apgdT, .fabT, .square],
                       "AutoAttack standard: apgd-ce, apgd-t, fab-t, square")
    }

    /// The attacks the suite builds from default settings carry the reference values: the
    /// suite's wiring cannot drop one (e.g. build APGD-T with the untargeted loss, or Square
    /// with another p_init).
    func testSuiteBuildsTheReferenceAttacks() throws {
        let net = ModelKind.mlp.build(input: Shape(1, 8, 8), classes: 10)
        let eps: Float = 8.0 / 255
        let suite = AttackSuite(network: net, settings: AttackSuiteSettings(epsilon: eps, seed: 4))

        let ce = try XCTUnwrap(suite.attack(.apgdCE) as? APGDAttack)
        XCTAssertEqual(ce.settings, APGDSettings(epsilon: eps, loss: .crossEntropy, iterations: 100, restarts: 1,
                                                 rho: 0.75, momentum: 0.75, targetClasses: 9))
        XCTAssertEqual(ce.seed, 4)
        XCTAssertEqual(ce.name, "apgd-ce")
        // 100 iterations: the reference's step-size checkpoints.
        XCTAssertEqual(ce.settings.checkpoints.map(\.iteration), [21, 40, 56, 69, 79, 86, 92, 98])

        let t = try XCTUnwrap(suite.attack(.apgdT) as? APGDAttack)
        XCTAssertEqual(t.settings, APGDSettings(epsilon: eps, loss: .targetedDLR, iterations: 100, restarts: 1,
                                                rho: 0.75, momentum: 0.75, targetClasses: 9))
        XCTAssertEqual(t.name, "apgd-t")

        let fab = try XCTUnwrap(suite.attack(.fabT) as? FABAttack)
        XCTAssertEqual(fab.settings, FABSettings(epsilon: eps, iterations: 100, restarts: 1, targetClasses: 9,
                                                 alphaMax: 0.1, eta: 1.05, beta: 0.9, finalSearchSteps: 0))
        XCTAssertEqual(fab.seed, 4)

        let square = try XCTUnwrap(suite.attack(.square) as? SquareAttack)
        XCTAssertEqual(square.settings, SquareSettings(epsilon: eps, queries: 5000, pInit: 0.8, restarts: 1,
                                                       rescaleSchedule: false))
        XCTAssertEqual(square.seed, 4)

        let pgd = try XCTUnwrap(suite.attack(.pgd) as? AttackerAttack)
        XCTAssertEqual(pgd.settings.kind, .pgd)
        XCTAssertEqual(pgd.settings.steps, 10)
        XCTAssertEqual(pgd.settings.restarts, 1)
        XCTAssertEqual(pgd.settings.epsilon, eps)

        // Restarts reach every component.
        let more = AttackSuite(network: net, settings: AttackSuiteSettings(epsilon: eps, restarts: 3))
        XCTAssertEqual((more.attack(.apgdCE) as? APGDAttack)?.settings.restarts, 3)
        XCTAssertEqual((more.attack(.apgdT) as? APGDAttack)?.settings.restarts, 3)
        XCTAssertEqual((more.attack(.fabT) as? FABAttack)?.settings.restarts, 3)
        XCTAssertEqual((more.attack(.square) as? SquareAttack)?.settings.restarts, 3)
        XCTAssertEqual((more.attack(.pgd) as? AttackerAttack)?.settings.restarts, 3)
        XCTAssertNil(suite.attack(.clean))
        XCTAssertNil(suite.attack(.aa))
    }
}

import Adversarial
@testable import dist_train
import Training
import XCTest

/// `dist-train eval`'s option defaults give AutoAttack's standard settings, and each option
/// reaches the attack settings.
final class EvalOptionsTests: XCTestCase {
    func testDefaultsAreTheReferenceOnes() throws {
        let eval = try EvalCommand.parse(["--weights", "model.safetensors"])
        let d = TrainConfig()
        XCTAssertEqual(eval.attack, "aa")
        XCTAssertEqual(try RobustAttack.parseList(eval.attack), [.aa])
        XCTAssertNil(eval.model, "the model comes from the file's metadata unless given")
        XCTAssertEqual(eval.eps.value, d.attack.epsilon)
        XCTAssertEqual(eval.samples, 1000, "the first 1000 test images, as the reference check")
        XCTAssertEqual(eval.pgdSteps, d.evalPGDSteps)
        XCTAssertEqual(eval.restarts, 1)
        XCTAssertEqual(eval.seed, 0)
        XCTAssertEqual(eval.apgdIterations, 100)
        XCTAssertEqual(eval.fabIterations, 100)
        XCTAssertEqual(eval.squareQueries, 5000)
        XCTAssertEqual(eval.suiteSettings, AttackSuiteSettings(epsilon: d.attack.epsilon),
                       "default options give the suite's reference defaults")
        XCTAssertEqual(eval.suiteSettings.targetClasses, 9)
    }

    func testOptionsReachTheAttackSettings() throws {
        let eval = try EvalCommand.parse(["--weights", "w", "--eps", "8/255", "--restarts", "3", "--seed", "17",
                                          "--pgd-steps", "7", "--apgd-iterations", "20", "--fab-iterations", "11",
                                          "--square-queries", "150", "--samples", "0", "--attack", "clean,pgd"])
        XCTAssertEqual(eval.suiteSettings,
                       AttackSuiteSettings(epsilon: Float(8) / 255, seed: 17, restarts: 3, pgdSteps: 7, apgdIterations: 20,
                                           fabIterations: 11, targetClasses: 9, squareQueries: 150))
        XCTAssertEqual(try RobustAttack.parseList(eval.attack), [.clean, .pgd])
        XCTAssertThrowsError(try EvalCommand.parse(["--weights", "w", "--restarts", "0"]))
        XCTAssertThrowsError(try EvalCommand.parse(["--weights", "w", "--apgd-iterations", "0"]))
        XCTAssertThrowsError(try EvalCommand.parse(["--weights", "w", "--eps", "1.5"]))
    }
}

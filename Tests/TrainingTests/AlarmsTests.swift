import Training
import XCTest

/// The CO and RO alarms on hand-made epoch sequences.
final class AlarmsTests: XCTestCase {
    func testQuietRunRaisesNothing() {
        var a = Alarms(thresholds: AlarmThresholds())
        for e in 1...10 {
            let out = a.update(epoch: e, trainAAERate: 0.001, trainAdvAcc: 0.5 + 0.01 * Double(e),
                               testFGSM: 0.55 + 0.01 * Double(e), testPGD: 0.50 + 0.01 * Double(e))
            XCTAssertEqual(out, [], "epoch \(e)")
        }
        XCTAssertEqual(a.best?.epoch, 10)
    }

    func testFGSMPGDGapRaisesCO() {
        var a = Alarms(thresholds: AlarmThresholds())
        XCTAssertEqual(a.update(epoch: 1, trainAAERate: 0, trainAdvAcc: 0.5, testFGSM: 0.6, testPGD: 0.5), [])
        let out = a.update(epoch: 2, trainAAERate: 0, trainAdvAcc: 0.9, testFGSM: 0.85, testPGD: 0.6)
        XCTAssertEqual(out.map(\.kind), [.co])
        XCTAssert(out[0].message.contains("FGSM accuracy 85.0%") && out[0].message.contains("PGD accuracy 60.0%"), out[0].message)
    }

    func testPGDCollapseRaisesCO() {
        var a = Alarms(thresholds: AlarmThresholds())
        _ = a.update(epoch: 1, trainAAERate: 0, trainAdvAcc: 0.5, testFGSM: 0.55, testPGD: 0.5)
        let out = a.update(epoch: 2, trainAAERate: 0, trainAdvAcc: 0.5, testFGSM: 0.45, testPGD: 0.25)
        XCTAssertEqual(out.map(\.kind), [.co])
        XCTAssert(out[0].message.contains("fell from 50.0% to 25.0%"), out[0].message)
    }

    func testAAEJumpOverRunningMedianRaisesCO() {
        var a = Alarms(thresholds: AlarmThresholds())
        for (e, rate) in [0.002, 0.003, 0.002].enumerated() {
            XCTAssertEqual(a.update(epoch: e + 1, trainAAERate: rate, trainAdvAcc: 0.5, testFGSM: nil, testPGD: nil), [])
        }
        // 10× the median 0.2% is 2%: 1.9% stays quiet, 3% fires.
        XCTAssertEqual(a.update(epoch: 4, trainAAERate: 0.019, trainAdvAcc: 0.5, testFGSM: nil, testPGD: nil), [])
        let out = a.update(epoch: 5, trainAAERate: 0.3, trainAdvAcc: 0.5, testFGSM: nil, testPGD: nil)
        XCTAssertEqual(out.map(\.kind), [.co])
    }

    func testAAERateFloorIgnoresJumpsFromZero() {
        var a = Alarms(thresholds: AlarmThresholds())
        _ = a.update(epoch: 1, trainAAERate: 0, trainAdvAcc: 0.5, testFGSM: nil, testPGD: nil)
        _ = a.update(epoch: 2, trainAAERate: 0, trainAdvAcc: 0.5, testFGSM: nil, testPGD: nil)
        // A few AAEs out of thousands (0.5%) is below 10 × the 0.1% floor.
        XCTAssertEqual(a.update(epoch: 3, trainAAERate: 0.005, trainAdvAcc: 0.5, testFGSM: nil, testPGD: nil), [])
    }

    func testCatastrophicOverfittingIsNotAlsoReportedAsRobustOverfitting() {
        var a = Alarms(thresholds: AlarmThresholds())
        _ = a.update(epoch: 1, trainAAERate: 0, trainAdvAcc: 0.40, testFGSM: 0.50, testPGD: 0.40)
        let out = a.update(epoch: 2, trainAAERate: 0, trainAdvAcc: 0.60, testFGSM: 0.70, testPGD: 0.05)
        XCTAssertEqual(Set(out.map(\.kind)), [.co])
    }

    func testRobustOverfittingNeedsRisingTrainAccuracy() {
        var a = Alarms(thresholds: AlarmThresholds())
        _ = a.update(epoch: 1, trainAAERate: 0, trainAdvAcc: 0.50, testFGSM: 0.55, testPGD: 0.48)
        // Test PGD down 4 points while training robust accuracy also falls: not RO.
        XCTAssertEqual(a.update(epoch: 2, trainAAERate: 0, trainAdvAcc: 0.45, testFGSM: 0.50, testPGD: 0.44), [])
        // Down 5 points below the best while training robust accuracy rose above its value then: RO.
        let out = a.update(epoch: 3, trainAAERate: 0, trainAdvAcc: 0.60, testFGSM: 0.50, testPGD: 0.43)
        XCTAssertEqual(out.map(\.kind), [.ro])
        XCTAssert(out[0].message.contains("best 48.0% (epoch 1)"), out[0].message)
        XCTAssertEqual(a.best?.epoch, 1)
        XCTAssert(a.isBest(epoch: 1))
        XCTAssertFalse(a.isBest(epoch: 3))
    }

    /// Epochs with every rule in play: a quiet start, an AAE-rate jump, a PGD collapse, robust overfitting.
    static let epochs: [(aae: Double, adv: Double, fgsm: Double?, pgd: Double?)] = [
        (0.002, 0.40, 0.45, 0.40), (0.003, 0.45, 0.50, 0.1 + 0.2), (0.002, 0.50, nil, nil), (0.05, 0.55, 0.55, 0.47),
        (0.004, 0.60, 0.60, 0.44), (0.004, 0.65, 0.62, 0.20), (0.003, 0.70, 0.65, 0.41),
    ]

    /// Stopped after any epoch and restored from its JSON state, the rules raise exactly the
    /// alarms of an uninterrupted run and keep the same best epoch.
    func testRestoredStateRaisesTheAlarmsOfAnUninterruptedRun() throws {
        let thresholds = AlarmThresholds()
        var whole = Alarms(thresholds: thresholds)
        let reference = Self.epochs.enumerated().map { e, x in
            whole.update(epoch: e + 1, trainAAERate: x.aae, trainAdvAcc: x.adv, testFGSM: x.fgsm, testPGD: x.pgd)
        }
        XCTAssertEqual(Set(reference.flatMap { $0.map(\.kind) }), [.co, .ro], "the fixture raises both kinds: \(reference)")
        for cut in 1..<Self.epochs.count {
            var first = Alarms(thresholds: thresholds)
            for (e, x) in Self.epochs.prefix(cut).enumerated() {
                _ = first.update(epoch: e + 1, trainAAERate: x.aae, trainAdvAcc: x.adv, testFGSM: x.fgsm, testPGD: x.pgd)
            }
            var second = Alarms(thresholds: thresholds)
            try second.restore(stateJSON: first.stateJSON)
            XCTAssertEqual(second.stateJSON, first.stateJSON, "cut after epoch \(cut): the state round-trips exactly")
            for (e, x) in Self.epochs.enumerated().dropFirst(cut) {
                let out = second.update(epoch: e + 1, trainAAERate: x.aae, trainAdvAcc: x.adv, testFGSM: x.fgsm, testPGD: x.pgd)
                XCTAssertEqual(out, reference[e], "cut after epoch \(cut), epoch \(e + 1)")
            }
            XCTAssertEqual(second.raised, whole.raised, "cut after epoch \(cut)")
            XCTAssertEqual(second.best?.epoch, whole.best?.epoch)
            XCTAssertEqual(second.best?.pgd, whole.best?.pgd)
            XCTAssertEqual(second.best?.trainAdv, whole.best?.trainAdv)
        }
        // A fresh state forgets the best epoch: the restored one is what keeps best.dtck right.
        XCTAssertEqual(whole.best?.epoch, 4)
        var forgetful = Alarms(thresholds: thresholds)
        let x = Self.epochs[4]
        _ = forgetful.update(epoch: 5, trainAAERate: x.aae, trainAdvAcc: x.adv, testFGSM: x.fgsm, testPGD: x.pgd)
        XCTAssert(forgetful.isBest(epoch: 5))
    }

    func testDamagedStateIsAnError() {
        var a = Alarms(thresholds: AlarmThresholds())
        XCTAssertThrowsError(try a.restore(stateJSON: "{\"aaeRates\": \"many\"}"))
        XCTAssertThrowsError(try a.restore(stateJSON: ""))
    }

    /// `--stop-on`: the run stops after an epoch that raised an alarm of the chosen kind only.
    func testStopOnMatchesTheAlarmKind() {
        let co = Alarms.Alarm(kind: .co, epoch: 3, message: "gap"), ro = Alarms.Alarm(kind: .ro, epoch: 3, message: "drop")
        XCTAssertTrue(Alarms.shouldStop([ro], on: .ro))
        XCTAssertTrue(Alarms.shouldStop([co, ro], on: .ro))
        XCTAssertFalse(Alarms.shouldStop([co], on: .ro))
        XCTAssertTrue(Alarms.shouldStop([co], on: .co))
        XCTAssertFalse(Alarms.shouldStop([ro], on: .co))
        XCTAssertFalse(Alarms.shouldStop([co, ro], on: .never))
        XCTAssertFalse(Alarms.shouldStop([], on: .ro))
        // An RO epoch from the rules themselves stops an `--stop-on ro` run.
        var a = Alarms(thresholds: AlarmThresholds())
        _ = a.update(epoch: 1, trainAAERate: 0, trainAdvAcc: 0.50, testFGSM: 0.55, testPGD: 0.48)
        let out = a.update(epoch: 2, trainAAERate: 0, trainAdvAcc: 0.60, testFGSM: 0.50, testPGD: 0.43)
        XCTAssertTrue(Alarms.shouldStop(out, on: .ro))
        XCTAssertFalse(Alarms.shouldStop(out, on: .co))
    }
}

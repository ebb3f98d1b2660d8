@testable import Observatory
import XCTest

final class RunRecordsTests: XCTestCase {
    func testConfigIsFlattenedWithDotsAndSorted() throws {
        let run = RunRecords(directory: try SyntheticRun.write(to: reportTemporaryDirectory(self)))
        let config = try XCTUnwrap(run.config)
        XCTAssertEqual(config.map(\.key), ["attack.alpha", "attack.epsilon", "attack.kind", "attack.restarts",
                                           "attack.steps", "batchSize", "beta", "dataset", "der", "epochs", "gamma",
                                           "model", "seed"])
        XCTAssertEqual(run.configValue("attack.epsilon"), "0.3")
        XCTAssertEqual(run.configValue("der"), "true")
        XCTAssertEqual(run.configValue("epochs"), "30")
        XCTAssertEqual(run.configValue("dataset"), "mnist")
    }

    func testMetricsKeepEpochLinesAndSkipTheRest() throws {
        let run = RunRecords(directory: try SyntheticRun.write(to: reportTemporaryDirectory(self)))
        XCTAssertEqual(run.epochs.map(\.epoch), [1, 2, 3])
        XCTAssertEqual(run.skippedLines, 2, "the garbage line and the torn last line")
        XCTAssertEqual(run.epochs[1].train["norm_dE"], 2)
        XCTAssertEqual(run.epochs[1].train["E_x_std"], 1.5, "unknown fields are kept, not refused")
        XCTAssertEqual(run.epochs[2].test["pgd_acc"]!, 0.23, accuracy: 1e-12)
        XCTAssertEqual(run.epochs[0].values["lr"], 0.1)
        XCTAssertEqual(run.curve("aae_count", in: "train").map(\.y), [3, 0, 120])
        XCTAssertEqual(run.curve("lr").map(\.x), [1, 2, 3])
        XCTAssertEqual(run.progress?.epoch, 4)
        XCTAssertEqual(run.progress?.fraction, 0.25)
        XCTAssertEqual(run.alarms, [RunRecords.Alarm(kind: "co", epoch: 3, message: "FGSM acc up 40 points while PGD acc fell")])
        XCTAssertEqual(run.probeEpochs, [1, 2, 3])
    }

    func testRepeatedEpochKeepsTheLastLineAndAlarmsAreListedOnce() throws {
        let dir = try reportTemporaryDirectory(self)
        let alarm = #","alarms":[{"kind":"ro","epoch":2,"message":"PGD test acc fell"}]"#
        let text = [#"{"epoch":1,"lr":0.1,"train":{"loss":2}}"#,
                    #"{"epoch":2,"lr":0.2,"train":{"loss":1}\#(alarm)}"#,
                    #"{"epoch":2,"lr":0.3,"train":{"loss":0.5,"clean_acc":"n/a"}\#(alarm)}"#,
                    #"{"epoch":"three"}"#, #"[1,2,3]"#, #"{"epoch":1.5}"#, "", "   ",
                    #"{"epoch":3,"train":{"loss":true},"test":null}"#].joined(separator: "\n")
        try text.write(toFile: dir + "/metrics.jsonl", atomically: true, encoding: .utf8)
        let run = RunRecords(directory: dir)
        XCTAssertEqual(run.epochs.map(\.epoch), [1, 2, 3])
        XCTAssertEqual(run.epochs[1].values["lr"], 0.3)
        XCTAssertNil(run.epochs[1].train["clean_acc"], "a string is not a number")
        XCTAssertNil(run.epochs[2].train["loss"], "a Bool is not a number")
        XCTAssertTrue(run.epochs[2].test.isEmpty)
        XCTAssertEqual(run.skippedLines, 3)
        XCTAssertEqual(run.alarms.count, 1)
        XCTAssertNil(run.progress)
    }

    func testEmptyDirectoryHasNothingYet() throws {
        let run = RunRecords(directory: try reportTemporaryDirectory(self))
        XCTAssertNil(run.config)
        XCTAssertFalse(run.metricsPresent)
        XCTAssertTrue(run.epochs.isEmpty && run.alarms.isEmpty && run.probeEpochs.isEmpty)
        XCTAssertNil(run.probes(epoch: 1))
    }

    func testConfigThatIsNotAnObjectIsReported() throws {
        let dir = try reportTemporaryDirectory(self)
        try "[1, 2".write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        let run = RunRecords(directory: dir)
        XCTAssertNil(run.config)
        XCTAssertNotNil(run.configProblem)
    }

    func testProbeCSVRowsParseAndBadRowsAreCounted() {
        let rows = SyntheticRun.probeRows(epoch: 2, train: 6, test: 2, aaeEvery: 5)
        var text = SyntheticRun.csv(rows)
        text += "train,77,1,1,1,-3.0,-2.0,oops,-1.0,1,1,1,0\n"   // unreadable number
        text += "train,78,1,1,1,-3.0\n"                           // torn row
        text += "train,79,1,1,1,-3.0,-2.0,-2.5,-1.0,1,1,1,maybe\n" // bad flag
        let table = ProbeTable.parse(csv: text, epoch: 2)
        XCTAssertNil(table.problem)
        XCTAssertEqual(table.skippedRows, 3)
        XCTAssertEqual(table.samples.count, 8)
        for (sample, row) in zip(table.samples, rows) {
            XCTAssertEqual(sample.split, row.split)
            XCTAssertEqual(sample.index, row.index)
            XCTAssertEqual(sample.energy, row.e)
            XCTAssertEqual(sample.joint, row.ey)
            XCTAssertEqual(sample.energyAdv, row.ea)
            XCTAssertEqual(sample.jointAdv, row.eay)
            XCTAssertEqual(sample.aae, row.aae)
            XCTAssertEqual(sample.label, row.label)
        }
        XCTAssertEqual(table.arrows(split: "train").count, 6)
        XCTAssertEqual(table.arrows(split: "train", aaeOnly: true).map(\.id), [0, 35])
        XCTAssertEqual(table.arrows(split: "test").count, 2)
    }

    func testProbeColumnsAreFoundByName() {
        let text = "index,split,E_xadv_y,E_xadv,E_xy,E_x,aae,extra\n5,train,-1.5,-2.5,-3.5,-4.5,1,x\n"
        let table = ProbeTable.parse(csv: text, epoch: 1)
        XCTAssertEqual(table.samples.count, 1)
        XCTAssertEqual(table.samples[0].arrow, QuiverPlot.Arrow(id: 5, from: (-4.5, -3.5), to: (-2.5, -1.5)))
        XCTAssertTrue(table.samples[0].aae)
        XCTAssertNil(table.samples[0].label)
    }

    func testProbeHeaderWithoutEnergiesIsAProblem() {
        XCTAssertEqual(ProbeTable.parse(csv: "split,index,E_x\ntrain,1,2\n", epoch: 1).problem, "header lacks E_xy, E_xadv, E_xadv_y")
        XCTAssertEqual(ProbeTable.parse(csv: "", epoch: 1).problem, "empty file")
    }

    func testProbePathIsZeroPadded() {
        XCTAssertEqual(RunRecords(directory: "/nonexistent").probePath(epoch: 7), "/nonexistent/energies/epoch-0007.csv")
        XCTAssertEqual(RunRecords(directory: "/nonexistent").probePath(epoch: 12345), "/nonexistent/energies/epoch-12345.csv")
    }
}

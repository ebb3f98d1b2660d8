@testable import Observatory
import XCTest

final class ReportTests: XCTestCase {
    func section(_ root: XMLNode, _ id: String) throws -> XMLNode {
        try XCTUnwrap(root.descendants("section").first { $0.attributes["id"] == id }, "section \(id)")
    }

    func testFullRunHasEverySectionAndNoExternalReference() throws {
        let dir = try SyntheticRun.write(to: reportTemporaryDirectory(self))
        let page = try Report.html(runDirectory: dir)
        XCTAssertFalse(page.contains("http://"))
        XCTAssertFalse(page.contains("https://"))
        XCTAssertFalse(page.contains("not yet available"))
        XCTAssertFalse(page.contains("<link"), "no stylesheet or font from elsewhere")
        XCTAssertFalse(page.contains(" src="), "no script or image from elsewhere")
        XCTAssertFalse(page.contains("url("), "no CSS resource")

        let root = try parseXML(page)   // the whole page is well-formed XML
        for id in ["alarms", "curves", "quiver", "config"] { _ = try section(root, id) }
        XCTAssertEqual(root.descendants("h1").first?.text, (dir as NSString).lastPathComponent)
        let status = try XCTUnwrap(root.descendants("p").first { $0.hasClass("status") })
        XCTAssertTrue(status.textContent.contains("epoch 3 of 30 done"), status.textContent)

        let alarmRows = try section(root, "alarms").descendants("tbody").first!.descendants("tr")
        XCTAssertEqual(alarmRows.count, 1)
        XCTAssertEqual(alarmRows[0].descendants("td").map { $0.textContent },
                       ["3", "CO catastrophic overfitting", "FGSM acc up 40 points while PGD acc fell"])

        let charts = try section(root, "curves").descendants("svg")
        XCTAssertEqual(charts.count, 6)
        for chart in charts {
            XCTAssertEqual(chart.descendants("g").filter { $0.hasClass("marker") }.count, 1, "alarm marker at epoch 3")
        }
        let accuracy = charts[0].descendants("g").filter { $0.hasClass("series") }
        XCTAssertEqual(accuracy.map { $0.attributes["data-name"]! },
                       ["train clean", "train adversarial", "test clean", "test FGSM", "test PGD"])
        XCTAssertEqual(accuracy.map { $0.descendants("circle").count }, [3, 3, 3, 3, 3])

        let configRows = try section(root, "config").descendants("tr").dropFirst()
        XCTAssertEqual(configRows.count, 13)
        XCTAssertTrue(configRows.contains { $0.descendants("td").map { $0.textContent } == ["attack.kind", "fgsm-rs"] })
    }

    func testEverySVGFragmentParsesOnItsOwn() throws {
        let page = try Report.html(runDirectory: SyntheticRun.write(to: reportTemporaryDirectory(self)))
        let fragments = svgFragments(page)
        XCTAssertEqual(fragments.count, 6 + 3 * 2)
        for fragment in fragments { XCTAssertNoThrow(try parseXML(fragment)) }
    }

    /// The quiver plot's arrows match the probe CSV: one arrow per train row, same values.
    func testQuiverArrowsMatchTheProbeCSV() throws {
        let dir = try SyntheticRun.write(to: reportTemporaryDirectory(self), trainProbes: 60)
        let root = try parseXML(try Report.html(runDirectory: dir))
        let select = try XCTUnwrap(root.descendants("select").first { $0.attributes["id"] == "epoch-select" })
        XCTAssertEqual(select.descendants("option").map { $0.attributes["value"]! }, ["3", "2", "1"])
        XCTAssertEqual(select.descendants("option").first?.attributes["selected"], "selected")

        let blocks = root.descendants("div").filter { $0.hasClass("quiver-epoch") }
        XCTAssertEqual(blocks.map { $0.attributes["data-epoch"]! }, ["1", "2", "3"])
        XCTAssertEqual(blocks.map { $0.attributes["hidden"] != nil }, [true, true, false], "newest visible without JS")

        for block in blocks {
            let epoch = Int(block.attributes["data-epoch"]!)!
            let csv = try String(contentsOfFile: dir + String(format: "/energies/epoch-%04d.csv", epoch), encoding: .utf8)
            let rows = csv.split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) }
                .filter { $0[0] == "train" }
            let plots = block.descendants("svg")
            XCTAssertEqual(plots.count, 2)
            let subset = plots[0].arrows, abnormal = plots[1].arrows
            XCTAssertEqual(subset.count, rows.count, "epoch \(epoch): every train probe drawn (fewer than 200)")
            XCTAssertEqual(abnormal.count, rows.filter { $0[12] == "1" }.count, "epoch \(epoch)")
            let byID = Dictionary(uniqueKeysWithValues: subset.map { ($0.attributes["data-id"]!, $0) })
            for row in rows {
                let arrow = try XCTUnwrap(byID[row[1]], "epoch \(epoch): no arrow for sample \(row[1])")
                for (attribute, column) in [("data-x0", 5), ("data-y0", 6), ("data-x1", 7), ("data-y1", 8)] {
                    XCTAssertEqual(Double(arrow.attributes[attribute]!), Double(row[column]),
                                   "epoch \(epoch) sample \(row[1]) \(attribute)")
                }
            }
            for arrow in abnormal {
                XCTAssertTrue(rows.contains { $0[1] == arrow.attributes["data-id"] && $0[12] == "1" })
            }
        }
        // Epoch 1 has no AAE: its right-hand plot says so.
        XCTAssertTrue(blocks[0].descendants("text").contains { $0.text == "no abnormal adversarial examples at this epoch" })
    }

    func testLargeProbeSetIsSubsampledToTheCap() throws {
        let dir = try SyntheticRun.write(to: reportTemporaryDirectory(self), epochs: 3, trainProbes: 450, testProbes: 0)
        let root = try parseXML(try Report.html(runDirectory: dir))
        let newest = root.descendants("div").first { $0.hasClass("quiver-epoch") && $0.attributes["hidden"] == nil }!
        let plots = newest.descendants("svg")
        XCTAssertEqual(plots[0].arrows.count, QuiverPlot.defaultMaxArrows)
        XCTAssertEqual(plots[1].arrows.count, 90)
    }

    func testEmptyRunDirectorySaysNotYetAvailable() throws {
        let page = try Report.html(runDirectory: reportTemporaryDirectory(self))
        let root = try parseXML(page)
        for id in ["alarms", "curves", "quiver", "config"] {
            let text = try section(root, id).textContent
            XCTAssertTrue(text.contains("not yet available"), "\(id): \(text)")
        }
        XCTAssertTrue(page.contains("no epoch finished yet"))
        XCTAssertTrue(svgFragments(page).isEmpty)
    }

    func testRunningRunWithSomeFilesStillBuilds() throws {
        let dir = try reportTemporaryDirectory(self)
        try #"{"epochs": 10, "seed": 1}"#.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        try (SyntheticRun.metricsLine(epoch: 1) + "\n" + #"{"interval":true,"epoch":2,"epoch_progress":0.4}"# + "\n")
            .write(toFile: dir + "/metrics.jsonl", atomically: true, encoding: .utf8)
        let page = try Report.html(runDirectory: dir)
        let root = try parseXML(page)
        XCTAssertTrue(try section(root, "alarms").textContent.contains("no alarms"))
        XCTAssertTrue(try section(root, "quiver").textContent.contains("not yet available"))
        XCTAssertEqual(try section(root, "curves").descendants("svg").count, 6)
        XCTAssertTrue(page.contains("epoch 1 of 10 done"))
        XCTAssertTrue(page.contains("epoch 2 at 40%"))
    }

    func testUnreadableProbeFileIsReportedNotFatal() throws {
        let dir = try SyntheticRun.write(to: reportTemporaryDirectory(self))
        try "garbage\n".write(toFile: dir + "/energies/epoch-0003.csv", atomically: true, encoding: .utf8)
        let page = try Report.html(runDirectory: dir)
        XCTAssertNoThrow(try parseXML(page))
        XCTAssertTrue(page.contains("epoch 3: probe file unreadable (header lacks"))
    }

    func testMissingDirectoryThrows() {
        XCTAssertThrowsError(try Report.html(runDirectory: "/nonexistent/run-\(UUID().uuidString)"))
    }

    func testWriteLeavesOnlyTheFinishedPage() throws {
        let dir = try SyntheticRun.write(to: reportTemporaryDirectory(self))
        try Report.write(runDirectory: dir)
        try Report.write(runDirectory: dir)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertTrue(names.contains("report.html"))
        XCTAssertFalse(names.contains { $0.contains(".tmp-") }, "\(names)")
        let page = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        XCTAssertTrue(page.hasSuffix("</html>\n"))
    }

    func testQuiverEpochsAreThinnedKeepingFirstNewestAndAlarms() {
        let epochs = Array(1...100)
        let chosen = Report.quiverEpochs(epochs, alarms: [37, 38])
        XCTAssertEqual(chosen.count, Report.maxQuiverEpochs)
        XCTAssertTrue(Set([1, 100, 37, 38]).isSubset(of: chosen))
        XCTAssertEqual(chosen, chosen.sorted())
        XCTAssertEqual(Report.quiverEpochs([1, 2, 3], alarms: []), [1, 2, 3])
    }
}

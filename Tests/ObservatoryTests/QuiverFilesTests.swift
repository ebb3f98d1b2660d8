@testable import Observatory
import Foundation
import XCTest

/// The per-epoch quiver plots as standalone SVG files next to the probe CSVs.
final class QuiverFilesTests: XCTestCase {
    func testNamesArePaddedLikeTheProbeFiles() {
        XCTAssertEqual(QuiverFiles.names(epoch: 7).subset, "quiver-epoch-0007.svg")
        XCTAssertEqual(QuiverFiles.names(epoch: 12345).aae, "quiver-aae-epoch-12345.svg")
    }

    /// Every probe epoch gets both files; each is a well-formed SVG document with the SVG
    /// namespace, holds the plot the report shows inline, and has one arrow per train row
    /// (or per AAE row) of that epoch's CSV.
    func testEveryProbeEpochGetsBothPlotsAsWellFormedSVG() throws {
        let dir = try SyntheticRun.write(to: reportTemporaryDirectory(self), trainProbes: 60)
        XCTAssertEqual(try QuiverFiles.writeAll(runDirectory: dir), [1, 2, 3])
        let page = try Report.html(runDirectory: dir)
        let inline = svgFragments(page).filter { $0.hasPrefix("<svg class=\"quiver\"") }
        XCTAssertEqual(inline.count, 6)
        for epoch in 1...3 {
            let csv = try String(contentsOfFile: dir + String(format: "/energies/epoch-%04d.csv", epoch), encoding: .utf8)
            let rows = csv.split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) }
                .filter { $0[0] == "train" }
            let names = QuiverFiles.names(epoch: epoch)
            for (name, expected, fragment) in [(names.subset, rows, inline[2 * (epoch - 1)]),
                                               (names.aae, rows.filter { $0[12] == "1" }, inline[2 * (epoch - 1) + 1])] {
                let text = try String(contentsOfFile: dir + "/energies/" + name, encoding: .utf8)
                XCTAssert(text.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "), name)
                let root = try XCTUnwrap(parseXML(text).children.first, name)
                XCTAssertEqual(root.name, "svg", name)
                XCTAssertEqual(root.attributes["xmlns"], "http" + "://www.w3.org/2000/svg", name)
                XCTAssertEqual(root.arrows.map { $0.attributes["data-id"]! }.sorted(), expected.map { $0[1] }.sorted(),
                               "\(name): one arrow per row")
                XCTAssertEqual(text, SVG.standalone(fragment), "\(name) is the plot of the report")
            }
            if epoch == 1 {
                let empty = try String(contentsOfFile: dir + "/energies/" + names.aae, encoding: .utf8)
                XCTAssert(empty.contains("no abnormal adversarial examples at this epoch"), "epoch 1 has no AAE")
            }
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/energies").filter { $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [], "atomic writes leave no temporary file")
        // The report links to the files once they exist.
        for epoch in 1...3 {
            let names = QuiverFiles.names(epoch: epoch)
            XCTAssert(page.contains("href=\"energies/\(names.subset)\"") && page.contains("href=\"energies/\(names.aae)\""),
                      "epoch \(epoch): no link to the quiver files")
        }
        XCTAssertNoThrow(try parseXML(page))
    }

    func testNoFilesAndNoLinksWithoutReadableProbes() throws {
        let dir = try SyntheticRun.write(to: reportTemporaryDirectory(self))
        XCTAssertFalse(try Report.html(runDirectory: dir).contains("href=\"energies/"), "no link before the files exist")
        try "split,index\n".write(toFile: dir + "/energies/epoch-0002.csv", atomically: true, encoding: .utf8)
        XCTAssertFalse(try QuiverFiles.write(runDirectory: dir, epoch: 2))
        XCTAssertFalse(try QuiverFiles.write(runDirectory: dir, epoch: 9), "no CSV for epoch 9")
        XCTAssertEqual(try QuiverFiles.writeAll(runDirectory: dir), [1, 3])
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/energies").filter { $0.hasSuffix(".svg") }.sorted()
        XCTAssertEqual(names, ["quiver-aae-epoch-0001.svg", "quiver-aae-epoch-0003.svg",
                               "quiver-epoch-0001.svg", "quiver-epoch-0003.svg"])
    }
}

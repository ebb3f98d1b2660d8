@testable import Observatory
import XCTest

final class LineChartTests: XCTestCase {
    func series(_ name: String, _ ys: [Double], color: String = "#1f77b4") -> LineChart.Series {
        .init(name: name, color: color, points: ys.enumerated().map { (Double($0.offset + 1), $0.element) })
    }

    func testOnePolylinePerSeriesAndOneCirclePerPoint() throws {
        let chart = LineChart.svg(series: [series("a", [0.1, 0.5, 0.7, 0.8]), series("b", [0.2, 0.3, 0.25, 0.1], color: "#ff7f0e"),
                                           series("c & <d>", [0.9, 0.8])],
                                  title: "acc", xTitle: "epoch", yTitle: "accuracy", yRange: 0...1)
        let root = try parseXML(chart)
        let groups = root.descendants("g").filter { $0.hasClass("series") }
        XCTAssertEqual(groups.map { $0.attributes["data-name"]! }, ["a", "b", "c & <d>"])
        XCTAssertEqual(groups.map { $0.descendants("polyline").count }, [1, 1, 1])
        XCTAssertEqual(groups.map { $0.descendants("circle").count }, [4, 4, 2])
        XCTAssertEqual(groups[0].descendants("polyline")[0].attributes["points"]!.split(separator: " ").count, 4)
        // Legend names every series.
        let legend = root.descendants("g").first { $0.hasClass("legend") }!
        XCTAssertEqual(legend.descendants("text").map(\.text), ["a", "b", "c & <d>"])
    }

    func testPointsKeepTheirDataAndOrderOnScreen() throws {
        let root = try parseXML(LineChart.svg(series: [series("lr", [0.1, 0.05, 0.025])], title: "lr", xTitle: "epoch", yTitle: "lr"))
        let points = root.descendants("circle").filter { $0.hasClass("point") }
        XCTAssertEqual(points.map { Double($0.attributes["data-y"]!)! }, [0.1, 0.05, 0.025])
        let cx = points.map { Double($0.attributes["cx"]!)! }, cy = points.map { Double($0.attributes["cy"]!)! }
        XCTAssertEqual(cx, cx.sorted(), "later epochs further right")
        XCTAssertEqual(cy, cy.sorted(), "smaller values lower (larger SVG y)")
    }

    func testLogScaleSkipsNonPositiveValuesAndSaysSo() throws {
        let chart = LineChart.svg(series: [series("AAE", [3, 30, 0, 300, 3000, -1])], title: "aae", xTitle: "epoch",
                                  yTitle: "count", logY: true)
        let root = try parseXML(chart)
        let group = root.descendants("g").first { $0.hasClass("series") }!
        XCTAssertEqual(group.descendants("circle").count, 4)
        XCTAssertEqual(group.descendants("polyline").count, 2, "the line breaks at the skipped value")
        XCTAssertEqual(group.descendants("circle").map { $0.attributes["data-y"]! }, ["3.0", "30.0", "300.0", "3000.0"])
        XCTAssertTrue(root.descendants("text").contains { $0.text == "2 values ≤ 0 not shown (log scale)" })
        XCTAssertTrue(root.descendants("text").contains { $0.text == "count (log scale)" })
        // Decade tick labels.
        let labels = Set(root.descendants("text").map(\.text))
        XCTAssertTrue(labels.isSuperset(of: ["1", "10", "100", "1000", "10000"]), "\(labels)")
    }

    func testAllNonPositiveOnLogScaleShowsTheEmptyNote() throws {
        let root = try parseXML(LineChart.svg(series: [series("AAE", [0, 0, 0])], title: "aae", xTitle: "epoch",
                                              yTitle: "count", logY: true, emptyMessage: "nothing to draw"))
        XCTAssertEqual(root.descendants("circle").filter { $0.hasClass("point") }.count, 0)
        XCTAssertTrue(root.descendants("text").contains { $0.text == "nothing to draw" })
    }

    func testMarkersAreDashedRedLinesWithLabels() throws {
        let markers = [LineChart.Marker(x: 2, label: "CO"), LineChart.Marker(x: 2, label: "RO"),
                       LineChart.Marker(x: 3, label: "CO"), LineChart.Marker(x: 3, label: "CO")]
        let root = try parseXML(LineChart.svg(series: [series("a", [1, 2, 3, 4])], title: "m", xTitle: "epoch",
                                              yTitle: "y", markers: markers))
        let groups = root.descendants("g").filter { $0.hasClass("marker") }
        XCTAssertEqual(groups.map { $0.attributes["data-x"]! }, ["2.0", "3.0"])
        XCTAssertEqual(groups.map { $0.descendants("text").first!.text }, ["CO, RO", "CO"])
        for g in groups {
            let path = g.descendants("path").first!
            XCTAssertEqual(path.attributes["stroke"], "#d62728")
            XCTAssertNotNil(path.attributes["stroke-dasharray"])
        }
    }

    func testEpochAxisHasWholeNumberTicks() throws {
        let root = try parseXML(LineChart.svg(series: [series("a", [10, 20, 30])], title: "t", xTitle: "epoch", yTitle: "y"))
        let labels = root.descendants("text").map(\.text)
        XCTAssertTrue(labels.contains("1") && labels.contains("2") && labels.contains("3"))
        XCTAssertFalse(labels.contains("1.5"))
    }

    func testNoSeriesAtAllStillDrawsAFrame() throws {
        let root = try parseXML(LineChart.svg(series: [], title: "empty", xTitle: "epoch", yTitle: "y"))
        XCTAssertTrue(root.descendants("text").contains { $0.text == "no data yet" })
    }
}

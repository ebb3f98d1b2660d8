@testable import Observatory
import TestSupport
import XCTest

final class QuiverPlotTests: XCTestCase {
    func arrows(_ count: Int, seed: UInt64 = 1) -> [QuiverPlot.Arrow] {
        let v = randomFloats(count * 4, seed: seed, low: -12, high: -4).map(Double.init)
        return (0..<count).map { i in
            QuiverPlot.Arrow(id: 1000 + 3 * i, from: (v[4 * i], v[4 * i] + abs(v[4 * i + 1]) / 4),
                             to: (v[4 * i + 2], v[4 * i + 2] + abs(v[4 * i + 3]) / 3))
        }
    }

    func testPlotIsWellFormedWithOneElementPerArrow() throws {
        let input = arrows(57)
        let svg = QuiverPlot.svg(arrows: input, title: "epoch 3 <train> & \"probes\"")
        let root = try parseXML(svg)
        XCTAssertEqual(root.children.first?.name, "svg")
        XCTAssertEqual(root.arrows.count, input.count)
        XCTAssertEqual(root.descendants("title").first?.text, "epoch 3 <train> & \"probes\"")
    }

    func testArrowAttributesCarryTheExactInputValues() throws {
        let input = arrows(40, seed: 9)
        let root = try parseXML(QuiverPlot.svg(arrows: input, title: "values"))
        let byID = Dictionary(uniqueKeysWithValues: root.arrows.map { (Int($0.attributes["data-id"]!)!, $0) })
        XCTAssertEqual(byID.count, input.count)
        for arrow in input {
            let node = try XCTUnwrap(byID[arrow.id], "arrow \(arrow.id) missing")
            XCTAssertEqual(Double(node.attributes["data-x0"]!), arrow.x0)
            XCTAssertEqual(Double(node.attributes["data-y0"]!), arrow.y0)
            XCTAssertEqual(Double(node.attributes["data-x1"]!), arrow.x1)
            XCTAssertEqual(Double(node.attributes["data-y1"]!), arrow.y1)
            let norm = ((arrow.x0 - arrow.x1) * (arrow.x0 - arrow.x1) + (arrow.y0 - arrow.y1) * (arrow.y0 - arrow.y1)).squareRoot()
            XCTAssertEqual(Double(node.attributes["data-norm"]!), norm)
        }
    }

    func testArrowGeometryPointsFromCleanToAdversarial() throws {
        // Two arrows in opposite directions: the head (polygon tip) sits at the adversarial end.
        let input = [QuiverPlot.Arrow(id: 1, from: (0, 1), to: (4, 5)), QuiverPlot.Arrow(id: 2, from: (4, 9), to: (0, 5))]
        let root = try parseXML(QuiverPlot.svg(arrows: input, title: "direction"))
        for node in root.arrows {
            let line = try XCTUnwrap(node.descendants("line").first)
            let tip = try XCTUnwrap(node.descendants("polygon").first?.attributes["points"]?
                .split(separator: " ").first?.split(separator: ",").compactMap { Double($0) })
            let x1 = Double(line.attributes["x1"]!)!, x2 = Double(line.attributes["x2"]!)!
            let isFirst = node.attributes["data-id"] == "1"
            XCTAssertEqual(isFirst ? x1 < x2 : x1 > x2, true, "shaft runs the wrong way")
            XCTAssertEqual(isFirst ? tip[0] > x2 : tip[0] < x2, true, "head not at the adversarial end")
        }
    }

    func testLongArrowsAreDrawnLastAndColouredBrightest() throws {
        let input = [QuiverPlot.Arrow(id: 1, from: (0, 1), to: (9, 12)), QuiverPlot.Arrow(id: 2, from: (0, 1), to: (0.5, 1.2)),
                     QuiverPlot.Arrow(id: 3, from: (1, 2), to: (2, 4))]
        let root = try parseXML(QuiverPlot.svg(arrows: input, title: "order"))
        XCTAssertEqual(root.arrows.map { $0.attributes["data-id"]! }, ["2", "3", "1"])
        let magnitudes = input.map(\.magnitude)
        let colorAxis = Axis.linear(covering: magnitudes.min()!, magnitudes.max()!, target: 5)
        XCTAssertEqual(root.arrows.map { $0.attributes["stroke"]! },
                       [1, 2, 0].map { ColorMap.viridis(colorAxis.fraction(magnitudes[$0])!) })
        let luma = root.arrows.map { node -> Double in
            let hex = Int(node.attributes["stroke"]!.dropFirst(), radix: 16)!
            return 0.2126 * Double(hex >> 16) + 0.7152 * Double((hex >> 8) & 255) + 0.0722 * Double(hex & 255)
        }
        XCTAssertEqual(luma, luma.sorted(), "longer arrows are brighter")
    }

    func testFrameHasDiagonalColourBarAndAxisTitles() throws {
        let root = try parseXML(QuiverPlot.svg(arrows: arrows(10), title: "frame"))
        let diagonal = root.descendants("path").filter { $0.hasClass("zero-ce") }
        XCTAssertEqual(diagonal.count, 1)
        XCTAssertNotNil(diagonal.first?.attributes["stroke-dasharray"])
        XCTAssertEqual(root.descendants("g").filter { $0.hasClass("colorbar") }.count, 1)
        let texts = root.descendants("text").map(\.text)
        XCTAssertTrue(texts.contains("‖ΔE‖"))
        XCTAssertTrue(texts.contains { $0.hasPrefix("E(x) =") })
        XCTAssertTrue(texts.contains { $0.hasPrefix("E(x, y)") })
    }

    func testEmptyPlotShowsItsMessage() throws {
        let root = try parseXML(QuiverPlot.svg(arrows: [], title: "AAEs", emptyMessage: "no abnormal adversarial examples"))
        XCTAssertEqual(root.arrows.count, 0)
        XCTAssertTrue(root.descendants("text").contains { $0.text == "no abnormal adversarial examples" })
    }

    func testNonFiniteArrowsAreLeftOut() throws {
        var input = arrows(5)
        input.append(QuiverPlot.Arrow(id: 99, from: (.nan, 1), to: (2, 3)))
        input.append(QuiverPlot.Arrow(id: 98, from: (1, 1), to: (.infinity, 3)))
        let root = try parseXML(QuiverPlot.svg(arrows: input, title: "nan"))
        XCTAssertEqual(root.arrows.count, 5)
    }

    func testSingleArrowAndZeroLengthArrow() throws {
        let root = try parseXML(QuiverPlot.svg(arrows: [QuiverPlot.Arrow(id: 4, from: (2, 3), to: (2, 3))], title: "dot"))
        XCTAssertEqual(root.arrows.count, 1)
        XCTAssertEqual(root.arrows[0].descendants("circle").count, 1)
    }

    func testSampleIsSeededStableAndKeepsOrder() {
        let input = arrows(500)
        let a = QuiverPlot.sample(input, maxArrows: 200, seed: 3)
        XCTAssertEqual(a.count, 200)
        XCTAssertEqual(a, QuiverPlot.sample(input, maxArrows: 200, seed: 3))
        XCTAssertNotEqual(a.map(\.id), QuiverPlot.sample(input, maxArrows: 200, seed: 4).map(\.id))
        XCTAssertEqual(a.map(\.id), a.map(\.id).sorted(), "input order kept")
        // The same sample ids are chosen whatever their values (the next epoch's energies).
        let nextEpoch = arrows(500, seed: 77)
        XCTAssertEqual(QuiverPlot.sample(nextEpoch, maxArrows: 200, seed: 3).map(\.id), a.map(\.id))
        XCTAssertEqual(QuiverPlot.sample(Array(input.prefix(50)), maxArrows: 200, seed: 3).count, 50)
    }
}

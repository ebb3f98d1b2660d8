@testable import Observatory
import XCTest

final class SVGTextTests: XCTestCase {
    func testEscapeCoversTheXMLSpecials() {
        XCTAssertEqual(SVG.escape(#"a<b & "c" > 'd'"#), "a&lt;b &amp; &quot;c&quot; &gt; &#39;d&#39;")
        XCTAssertEqual(SVG.escape("‖ΔE‖ ≤ 0"), "‖ΔE‖ ≤ 0")
    }

    func testPixelCoordinatesAreShort() {
        XCTAssertEqual(SVG.px(12), "12")
        XCTAssertEqual(SVG.px(12.5), "12.5")
        XCTAssertEqual(SVG.px(12.3456), "12.35")
        XCTAssertEqual(SVG.px(0.05), "0.05")
        XCTAssertEqual(SVG.px(-3.1), "-3.1")
        XCTAssertEqual(SVG.px(-0.001), "0")
        XCTAssertEqual(SVG.px(.nan), "0")
    }

    func testExactNumbersReadBackBitForBit() {
        for v in [0.1, -12.345678901234567, 1e-300, 123456789.125, Double.pi, -0.0] {
            XCTAssertEqual(Double(SVG.exact(v))!.bitPattern, v.bitPattern, "\(v)")
        }
    }

    func testViridisEndsAndMiddle() {
        XCTAssertEqual(ColorMap.viridis(0), "#440154")
        XCTAssertEqual(ColorMap.viridis(1), "#fde725")
        XCTAssertEqual(ColorMap.viridis(-5), "#440154", "clamped")
        XCTAssertEqual(ColorMap.viridis(7), "#fde725", "clamped")
        // Lightness rises monotonically: the map reads in grey too.
        var last = -1.0
        for i in 0...20 {
            let (r, g, b) = ColorMap.viridisRGB(Double(i) / 20)
            let luma = 0.2126 * Double(r) + 0.7152 * Double(g) + 0.0722 * Double(b)
            XCTAssertGreaterThan(luma, last)
            last = luma
        }
    }

    func testStandaloneAddsTheNamespace() throws {
        let svg = QuiverPlot.svg(arrows: [], title: "t")
        XCTAssertFalse(svg.contains("xmlns"))
        let file = SVG.standalone(svg)
        XCTAssertTrue(file.hasPrefix("<?xml"))
        XCTAssertTrue(file.contains(#"<svg xmlns="http://www.w3.org/2000/svg" class="quiver""#))
    }
}

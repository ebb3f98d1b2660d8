/// The energy quiver plot of the blog post: one arrow per sample from its clean energies
/// (E(x), E(x,y)) to its adversarial ones (E(x*), E(x*,y)), coloured by ‖ΔE‖. Catastrophic
/// overfitting shows as a few arrows far longer than the rest; the dashed diagonal
/// E(x,y) = E(x) is zero cross-entropy, and every sample lies on or above it.
///
/// Arrows are drawn at their true data positions (not rescaled as in the post), so each
/// arrow's `data-*` attributes and its geometry agree with the probe CSV row it came from.
public enum QuiverPlot {
    public struct Arrow: Sendable, Equatable {
        /// The probe sample's index (matches the CSV's `index` column).
        public var id: Int
        /// Clean energies: E(x), E(x,y).
        public var x0: Double, y0: Double
        /// Adversarial energies: E(x*), E(x*,y).
        public var x1: Double, y1: Double
        /// ‖ΔE‖, the colour.
        public var magnitude: Double

        /// `magnitude` defaults to ‖[E(x) − E(x*), E(x,y) − E(x*,y)]‖₂, the DER norm.
        public init(id: Int, from: (Double, Double), to: (Double, Double), magnitude: Double? = nil) {
            self.id = id
            (x0, y0) = from
            (x1, y1) = to
            self.magnitude = magnitude ?? ((from.0 - to.0) * (from.0 - to.0) + (from.1 - to.1) * (from.1 - to.1)).squareRoot()
        }

        var isFinite: Bool { x0.isFinite && y0.isFinite && x1.isFinite && y1.isFinite && magnitude.isFinite }
    }

    public static let defaultMaxArrows = 200

    /// At most `maxArrows` arrows, chosen by a keyed hash of (seed, id): the same samples are
    /// picked at every epoch, so a reader can follow them. Input order is kept.
    public static func sample(_ arrows: [Arrow], maxArrows: Int = defaultMaxArrows, seed: UInt64 = 0) -> [Arrow] {
        guard arrows.count > maxArrows else { return arrows }
        let ranked = arrows.indices.sorted { a, b in
            let (ha, hb) = (mix(seed, arrows[a].id), mix(seed, arrows[b].id))
            return ha != hb ? ha < hb : a < b
        }
        let chosen = Set(ranked.prefix(max(maxArrows, 0)))
        return arrows.indices.filter(chosen.contains).map { arrows[$0] }
    }

    /// SplitMix64 of the seed and id.
    static func mix(_ seed: UInt64, _ id: Int) -> UInt64 {
        var z = seed &+ UInt64(bitPattern: Int64(id)) &* 0x9E37_79B9_7F4A_7C15 &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The plot as an inline `<svg>`. Each arrow is a `<g class="arrow">` carrying `data-id`,
    /// `data-x0`, `data-y0`, `data-x1`, `data-y1` and `data-norm` with the exact input values.
    /// Arrows with a non-finite value cannot be placed and are left out; with none left,
    /// the frame shows `emptyMessage`.
    public static func svg(arrows: [Arrow], title: String, width: Int = 560, height: Int = 440,
                           emptyMessage: String = "no samples to draw") -> String {
        let drawn = arrows.filter(\.isFinite)
        let xs = drawn.flatMap { [$0.x0, $0.x1] }, ys = drawn.flatMap { [$0.y0, $0.y1] }
        let axes = Axes(width: Double(width), height: Double(height),
                        margins: .init(top: 34, right: 92, bottom: 46, left: 62),
                        x: paddedAxis(xs), y: paddedAxis(ys))
        var s = SVG.open(width: width, height: height, label: title, cssClass: "quiver")
        s += axes.frame(title: title, xTitle: "E(x) = −logsumexp f(x)", yTitle: "E(x, y) = −f(x)[y]")
        s += diagonal(axes)
        guard !drawn.isEmpty else { return s + axes.note(emptyMessage) + "</svg>" }

        let magnitudes = drawn.map(\.magnitude)
        let colorAxis = Axis.linear(covering: magnitudes.min()!, magnitudes.max()!, target: 5)
        s += "<g class=\"arrows\" stroke-width=\"1.3\" stroke-linecap=\"round\">"
        // Longest arrows last, so the outliers the plot is about are never hidden.
        for arrow in drawn.sorted(by: { $0.magnitude < $1.magnitude }) {
            s += element(arrow, axes: axes, color: ColorMap.viridis(colorAxis.fraction(arrow.magnitude) ?? 0))
        }
        s += "</g>"
        s += ColorBar.svg(axis: colorAxis, x: axes.right + 18, top: axes.top + 18, bottom: axes.bottom,
                          title: "‖ΔE‖")
        let count = drawn.count == 1 ? "1 sample" : "\(drawn.count) samples"
        s += SVG.text("arrow: clean x → adversarial x*", x: axes.left + 6, y: axes.top + 14, fill: "#555555", halo: true)
        s += SVG.text(count, x: axes.right - 6, y: axes.top + 14, anchor: "end", fill: "#555555", halo: true)
        return s + "</svg>"
    }

    /// An axis covering the values with 4% padding each side, so no arrow touches the frame.
    static func paddedAxis(_ values: [Double]) -> Axis {
        guard let lo = values.min(), let hi = values.max() else { return .linear(covering: 0, 1) }
        let pad = hi > lo ? (hi - lo) * 0.04 : max(abs(lo) * 0.05, 0.5)
        return .linear(covering: lo - pad, hi + pad, target: 6)
    }

    /// The dashed line E(x,y) = E(x) where it crosses the plot area, labelled CE = 0.
    static func diagonal(_ axes: Axes) -> String {
        let a = max(axes.x.lower, axes.y.lower), b = min(axes.x.upper, axes.y.upper)
        guard a < b, let c0 = axes.px(a), let r0 = axes.py(a), let c1 = axes.px(b), let r1 = axes.py(b) else { return "" }
        var s = "<path class=\"zero-ce\" d=\"M\(SVG.px(c0)) \(SVG.px(r0))L\(SVG.px(c1)) \(SVG.px(r1))\""
            + " stroke=\"#111111\" stroke-width=\"1.2\" stroke-dasharray=\"6 4\" fill=\"none\"/>"
        // Below the line, running right from it: samples sit on or above the line
        // (cross-entropy ≥ 0), so that side is empty. Ends near the right edge when it fits.
        let label = "E(x,y) = E(x): CE = 0"
        let start = max(c0, min(c1, axes.right) - SVG.textWidth(label) - 10)
        let row = r0 + (r1 - r0) * (c1 > c0 ? (start - c0) / (c1 - c0) : 0)
        s += SVG.text(label, x: start, y: row + 16, fill: "#111111", halo: true)
        return s
    }

    /// One arrow: a shaft and a filled head; a dot when it is shorter than a pixel and a half.
    static func element(_ arrow: Arrow, axes: Axes, color: String) -> String {
        let c0 = axes.px(arrow.x0)!, r0 = axes.py(arrow.y0)!, c1 = axes.px(arrow.x1)!, r1 = axes.py(arrow.y1)!
        var s = "<g class=\"arrow\" data-id=\"\(arrow.id)\" data-x0=\"\(SVG.exact(arrow.x0))\""
            + " data-y0=\"\(SVG.exact(arrow.y0))\" data-x1=\"\(SVG.exact(arrow.x1))\""
            + " data-y1=\"\(SVG.exact(arrow.y1))\" data-norm=\"\(SVG.exact(arrow.magnitude))\""
            + " stroke=\"\(color)\" fill=\"\(color)\">"
        s += "<title>sample \(arrow.id): ‖ΔE‖ = \(SVG.short(arrow.magnitude))</title>"
        let (dx, dy) = (c1 - c0, r1 - r0)
        let length = (dx * dx + dy * dy).squareRoot()
        if length < 1.5 {
            s += "<circle cx=\"\(SVG.px(c1))\" cy=\"\(SVG.px(r1))\" r=\"1.6\" stroke=\"none\"/>"
        } else {
            let head = min(8, max(3, length * 0.35)), half = head * 0.5
            let (ux, uy) = (dx / length, dy / length)
            let (bx, by) = (c1 - ux * head, r1 - uy * head)
            s += "<line x1=\"\(SVG.px(c0))\" y1=\"\(SVG.px(r0))\" x2=\"\(SVG.px(bx))\" y2=\"\(SVG.px(by))\"/>"
            s += "<polygon points=\"\(SVG.px(c1)),\(SVG.px(r1)) \(SVG.px(bx - uy * half)),\(SVG.px(by + ux * half))"
                + " \(SVG.px(bx + uy * half)),\(SVG.px(by - ux * half))\" stroke=\"none\"/>"
        }
        return s + "</g>"
    }
}

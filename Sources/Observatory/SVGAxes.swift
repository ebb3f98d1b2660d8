/// A plot area inside an SVG canvas: maps data to pixels and draws the frame around it
/// (grid, ticks, tick labels, axis titles, title). Plots draw their marks on top.
public struct Axes: Sendable {
    public struct Margins: Sendable {
        public var top: Double, right: Double, bottom: Double, left: Double
        public init(top: Double = 34, right: Double = 20, bottom: Double = 46, left: Double = 62) {
            self.top = top; self.right = right; self.bottom = bottom; self.left = left
        }
    }

    public let width: Double
    public let height: Double
    public let margins: Margins
    public let x: Axis
    public let y: Axis

    public init(width: Double, height: Double, margins: Margins = Margins(), x: Axis, y: Axis) {
        self.width = width; self.height = height; self.margins = margins; self.x = x; self.y = y
    }

    public var left: Double { margins.left }
    public var right: Double { width - margins.right }
    public var top: Double { margins.top }
    public var bottom: Double { height - margins.bottom }

    /// Pixel column of a data x; nil when the value cannot be drawn on this axis.
    public func px(_ value: Double) -> Double? { x.fraction(value).map { left + $0 * (right - left) } }
    /// Pixel row of a data y (SVG rows grow downwards); nil when it cannot be drawn.
    public func py(_ value: Double) -> Double? { y.fraction(value).map { bottom - $0 * (bottom - top) } }

    /// Background, grid lines, axis lines, tick marks and labels, axis titles and the title.
    public func frame(title: String, xTitle: String, yTitle: String) -> String {
        var s = "<g class=\"frame\">"
        s += "<rect x=\"\(SVG.px(left))\" y=\"\(SVG.px(top))\" width=\"\(SVG.px(right - left))\""
            + " height=\"\(SVG.px(bottom - top))\" fill=\"#fbfbfd\" stroke=\"none\"/>"
        for v in y.minorTicks { if let r = py(v) { s += hLine(r, color: "#f0f0f4") } }
        for v in x.minorTicks { if let c = px(v) { s += vLine(c, color: "#f0f0f4") } }
        for v in y.ticks { if let r = py(v) { s += hLine(r, color: "#e2e2ea") } }
        for v in x.ticks { if let c = px(v) { s += vLine(c, color: "#e2e2ea") } }
        s += "<path d=\"M\(SVG.px(left)) \(SVG.px(top))V\(SVG.px(bottom))H\(SVG.px(right))\""
            + " fill=\"none\" stroke=\"#555555\" stroke-width=\"1\"/>"

        // Tick labels: thin out the x labels when they would overlap.
        let xLabels = x.ticks.map(x.label)
        let widest = xLabels.map { SVG.textWidth($0) }.max() ?? 0
        let spacing = x.ticks.count > 1 ? (right - left) / Double(x.ticks.count - 1) : right - left
        let every = max(1, Int(((widest + 8) / max(spacing, 1)).rounded(.up)))
        for (i, v) in x.ticks.enumerated() {
            guard let c = px(v) else { continue }
            s += "<path d=\"M\(SVG.px(c)) \(SVG.px(bottom))v4\" stroke=\"#555555\"/>"
            if i % every == 0 { s += SVG.text(xLabels[i], x: c, y: bottom + 16, anchor: "middle", fill: "#444444") }
        }
        for v in y.ticks {
            guard let r = py(v) else { continue }
            s += "<path d=\"M\(SVG.px(left)) \(SVG.px(r))h-4\" stroke=\"#555555\"/>"
            s += SVG.text(y.label(v), x: left - 7, y: r + 4, anchor: "end", fill: "#444444")
        }
        s += SVG.text(xTitle, x: (left + right) / 2, y: height - 10, anchor: "middle", size: 12)
        s += SVG.text(yTitle, x: 15, y: (top + bottom) / 2, anchor: "middle", size: 12, rotate: -90)
        s += SVG.text(title, x: (left + right) / 2, y: 20, anchor: "middle", size: 13, weight: "bold")
        return s + "</g>"
    }

    /// A centred grey note inside the plot area (empty states).
    public func note(_ text: String) -> String {
        SVG.text(text, x: (left + right) / 2, y: (top + bottom) / 2, anchor: "middle", size: 13, fill: "#777777")
    }

    private func hLine(_ r: Double, color: String) -> String {
        "<path d=\"M\(SVG.px(left)) \(SVG.px(r))H\(SVG.px(right))\" stroke=\"\(color)\" stroke-width=\"1\"/>"
    }

    private func vLine(_ c: Double, color: String) -> String {
        "<path d=\"M\(SVG.px(c)) \(SVG.px(top))V\(SVG.px(bottom))\" stroke=\"\(color)\" stroke-width=\"1\"/>"
    }
}

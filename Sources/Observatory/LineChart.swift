import Foundation

/// Per-epoch curves with a legend and alarm markers: how a reader sees catastrophic
/// overfitting (FGSM accuracy up while PGD collapses, ‖ΔE‖ jumping) line up with the alarms.
public enum LineChart {
    public struct Series: Sendable {
        public var name: String
        /// Any SVG colour, e.g. `#1f77b4`.
        public var color: String
        public var points: [(x: Double, y: Double)]
        public var dashed: Bool

        public init(name: String, color: String, points: [(x: Double, y: Double)], dashed: Bool = false) {
            self.name = name; self.color = color; self.points = points; self.dashed = dashed
        }
    }

    /// A vertical dashed red line at `x` (an alarm's epoch) with a short label.
    public struct Marker: Sendable, Equatable {
        public var x: Double
        public var label: String
        public init(x: Double, label: String) { self.x = x; self.label = label }
    }

    /// Ten distinguishable colours (Tableau 10 without its red, which markers use).
    public static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b",
                                 "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79"]

    /// The chart as an inline `<svg>`. Each series is a `<g class="series" data-name=…>` holding
    /// one `<polyline>` per run of consecutive drawable points and one `<circle class="point">`
    /// per drawable point. A point is not drawable when a coordinate is not finite or, with
    /// `logY`, when y ≤ 0 (log10 is undefined there): such points are skipped, the line
    /// breaks there, and a note under the plot counts them, so nothing disappears silently.
    /// `yRange` is always included in the y axis (e.g. 0...1 for accuracies); `integerX`
    /// keeps x ticks on whole numbers (epochs).
    public static func svg(series: [Series], title: String, xTitle: String, yTitle: String,
                           logY: Bool = false, yRange: ClosedRange<Double>? = nil, markers: [Marker] = [],
                           integerX: Bool = true, width: Int = 560, height: Int = 320,
                           emptyMessage: String = "no data yet") -> String {
        let drawable = series.map { s in s.points.map { p in p.x.isFinite && p.y.isFinite && (!logY || p.y > 0) } }
        let skipped = zip(series, drawable).reduce(0) { n, pair in
            n + zip(pair.0.points, pair.1).filter { !$0.1 && $0.0.x.isFinite && $0.0.y.isFinite }.count
        }
        var xs: [Double] = [], ys: [Double] = []
        for (s, keep) in zip(series, drawable) {
            for (p, k) in zip(s.points, keep) where k { xs.append(p.x); ys.append(p.y) }
        }
        let merged = mergedMarkers(markers)
        xs += merged.map(\.x).filter(\.isFinite)
        if let r = yRange, !logY || r.lowerBound > 0 { ys += [r.lowerBound, r.upperBound] }

        let legend = legendRows(series.map(\.name), width: Double(width) - 80)
        let margins = Axes.Margins(top: 34 + Double(legend.count) * 16, right: 20, bottom: skipped > 0 ? 58 : 46, left: 62)
        let xAxis = xs.isEmpty ? Axis.linear(covering: 0, 1, minStep: integerX ? 1 : 0)
            : Axis.linear(covering: xs.min()!, xs.max()!, target: 8, minStep: integerX ? 1 : 0)
        let yAxis = ys.isEmpty ? (logY ? Axis.log10(covering: 1, 10) : Axis.linear(covering: 0, 1))
            : (logY ? Axis.log10(covering: ys.min()!, ys.max()!) : Axis.linear(covering: ys.min()!, ys.max()!, target: 5))
        let axes = Axes(width: Double(width), height: Double(height), margins: margins, x: xAxis, y: yAxis)

        var s = SVG.open(width: width, height: height, label: title, cssClass: "chart")
        s += axes.frame(title: title, xTitle: xTitle, yTitle: yTitle + (logY ? " (log scale)" : ""))
        s += legendSVG(series, rows: legend, top: 34, axes: axes)
        if xs.isEmpty || ys.isEmpty || !drawable.contains(where: { $0.contains(true) }) { s += axes.note(emptyMessage) }
        s += markerSVG(merged, axes: axes)
        let radius = (series.map(\.points.count).max() ?? 0) > 60 ? 1.4 : 2.4
        for (item, keep) in zip(series, drawable) {
            s += seriesSVG(item, keep: keep, axes: axes, radius: radius)
        }
        if skipped > 0 {
            let what = skipped == 1 ? "1 value" : "\(skipped) values"
            s += SVG.text("\(what) ≤ 0 not shown (log scale)", x: axes.left, y: Double(height) - 6, fill: "#777777")
        }
        return s + "</svg>"
    }

    static func seriesSVG(_ item: Series, keep: [Bool], axes: Axes, radius: Double) -> String {
        var s = "<g class=\"series\" data-name=\"\(SVG.escape(item.name))\">"
        var run: [String] = []
        func flush() {
            if run.count >= 2 {
                s += "<polyline points=\"\(run.joined(separator: " "))\" fill=\"none\" stroke=\"\(item.color)\""
                    + " stroke-width=\"1.8\" stroke-linejoin=\"round\"" + (item.dashed ? " stroke-dasharray=\"5 3\"" : "") + "/>"
            }
            run = []
        }
        var dots = ""
        for (p, k) in zip(item.points, keep) {
            guard k, let c = axes.px(p.x), let r = axes.py(p.y) else { flush(); continue }
            run.append(SVG.px(c) + "," + SVG.px(r))
            dots += "<circle class=\"point\" cx=\"\(SVG.px(c))\" cy=\"\(SVG.px(r))\" r=\"\(SVG.px(radius))\""
                + " data-x=\"\(SVG.exact(p.x))\" data-y=\"\(SVG.exact(p.y))\"/>"
        }
        flush()
        return s + "<g fill=\"\(item.color)\">" + dots + "</g></g>"
    }

    /// Markers at the same x become one line with their labels joined.
    static func mergedMarkers(_ markers: [Marker]) -> [Marker] {
        var out: [Marker] = []
        for m in markers where m.x.isFinite {
            if let i = out.firstIndex(where: { $0.x == m.x }) {
                if !out[i].label.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }).contains(m.label) {
                    out[i].label += ", " + m.label
                }
            } else {
                out.append(m)
            }
        }
        return out.sorted { $0.x < $1.x }
    }

    static func markerSVG(_ markers: [Marker], axes: Axes) -> String {
        var s = ""
        var lastLabelEnd = -Double.infinity, row = 0
        for m in markers {
            guard let c = axes.px(m.x) else { continue }
            s += "<g class=\"marker\" data-x=\"\(SVG.exact(m.x))\">"
            s += "<path d=\"M\(SVG.px(c)) \(SVG.px(axes.top))V\(SVG.px(axes.bottom))\" stroke=\"#d62728\""
                + " stroke-width=\"1.3\" stroke-dasharray=\"4 3\"/>"
            // Labels of nearby markers step down a row instead of overprinting.
            row = c < lastLabelEnd ? (row + 1) % 3 : 0
            let anchorEnd = c + 3 + SVG.textWidth(m.label, size: 10) > axes.right
            s += SVG.text(m.label, x: anchorEnd ? c - 3 : c + 3, y: axes.top + 11 + Double(row) * 12,
                          anchor: anchorEnd ? "end" : "start", size: 10, weight: "bold", fill: "#d62728", halo: true)
            lastLabelEnd = max(lastLabelEnd, c + 3 + SVG.textWidth(m.label, size: 10))
            s += "</g>"
        }
        return s
    }

    /// Legend entries laid out in rows that fit `width`: each entry's index per row.
    static func legendRows(_ names: [String], width: Double) -> [[Int]] {
        var rows: [[Int]] = [], row: [Int] = [], used = 0.0
        for (i, name) in names.enumerated() {
            let w = 28 + SVG.textWidth(name) + 12
            if !row.isEmpty && used + w > width { rows.append(row); row = []; used = 0 }
            row.append(i); used += w
        }
        if !row.isEmpty { rows.append(row) }
        return rows
    }

    static func legendSVG(_ series: [Series], rows: [[Int]], top: Double, axes: Axes) -> String {
        var s = "<g class=\"legend\">"
        for (r, row) in rows.enumerated() {
            let widths = row.map { 28 + SVG.textWidth(series[$0].name) + 12 }
            let total = widths.reduce(0, +)
            var x = max(axes.left, (axes.left + axes.right) / 2 - total / 2)
            let y = top + Double(r) * 16 + 2
            for (k, i) in row.enumerated() {
                let item = series[i]
                s += "<path d=\"M\(SVG.px(x)) \(SVG.px(y))h20\" stroke=\"\(item.color)\" stroke-width=\"2.2\""
                    + (item.dashed ? " stroke-dasharray=\"5 3\"" : "") + "/>"
                s += "<circle cx=\"\(SVG.px(x + 10))\" cy=\"\(SVG.px(y))\" r=\"2.4\" fill=\"\(item.color)\"/>"
                s += SVG.text(item.name, x: x + 26, y: y + 4, fill: "#333333")
                x += widths[k]
            }
        }
        return s + "</g>"
    }
}

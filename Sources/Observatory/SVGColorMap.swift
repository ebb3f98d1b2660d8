/// Viridis: perceptually uniform and readable in grey and by colour-blind readers, so the
/// colour of an arrow tells its energy shift honestly.
public enum ColorMap {
    /// Viridis sampled at ten evenly spaced points (matplotlib's values), interpolated linearly.
    static let viridisTable: [(Double, Double, Double)] = [
        (0x44, 0x01, 0x54), (0x48, 0x28, 0x78), (0x3E, 0x4A, 0x89), (0x31, 0x68, 0x8E), (0x26, 0x82, 0x8E),
        (0x1F, 0x9E, 0x89), (0x35, 0xB7, 0x79), (0x6D, 0xCD, 0x59), (0xB4, 0xDE, 0x2C), (0xFD, 0xE7, 0x25),
    ]

    /// Red, green and blue in 0...255 for `t` in 0...1 (clamped; NaN gives mid grey).
    public static func viridisRGB(_ t: Double) -> (red: Int, green: Int, blue: Int) {
        guard !t.isNaN else { return (128, 128, 128) }
        let position = min(max(t, 0), 1) * Double(viridisTable.count - 1)
        let i = min(Int(position), viridisTable.count - 2)
        let f = position - Double(i)
        let (a, b) = (viridisTable[i], viridisTable[i + 1])
        func mix(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * f).rounded()) }
        return (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    /// `#rrggbb` for `t` in 0...1.
    public static func viridis(_ t: Double) -> String {
        let (r, g, b) = viridisRGB(t)
        return "#" + [r, g, b].map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

/// A vertical colour bar: the legend of a colour-mapped value.
public enum ColorBar {
    /// Draws `axis` (its `fraction` is the colour position) as a bar of `barWidth` at column `x`
    /// from row `top` (upper end) to `bottom`, ticks and labels on its right, title above.
    public static func svg(axis: Axis, x: Double, top: Double, bottom: Double, barWidth: Double = 12,
                           title: String) -> String {
        let bands = 64
        let h = (bottom - top) / Double(bands)
        var s = "<g class=\"colorbar\">"
        for i in 0..<bands {
            let t = (Double(i) + 0.5) / Double(bands)
            let y = bottom - Double(i + 1) * h
            // Bands overlap by half a pixel so no hairline seams show between them.
            s += "<rect x=\"\(SVG.px(x))\" y=\"\(SVG.px(y - 0.5))\" width=\"\(SVG.px(barWidth))\""
                + " height=\"\(SVG.px(h + 0.5))\" fill=\"\(ColorMap.viridis(t))\"/>"
        }
        s += "<rect x=\"\(SVG.px(x))\" y=\"\(SVG.px(top))\" width=\"\(SVG.px(barWidth))\""
            + " height=\"\(SVG.px(bottom - top))\" fill=\"none\" stroke=\"#555555\" stroke-width=\"0.8\"/>"
        for v in axis.ticks {
            guard let f = axis.fraction(v), f >= -1e-9, f <= 1 + 1e-9 else { continue }
            let y = bottom - f * (bottom - top)
            s += "<path d=\"M\(SVG.px(x + barWidth)) \(SVG.px(y))h4\" stroke=\"#555555\"/>"
            s += SVG.text(axis.label(v), x: x + barWidth + 6, y: y + 4, fill: "#444444")
        }
        s += SVG.text(title, x: x + barWidth / 2, y: top - 10, anchor: "middle", size: 12)
        return s + "</g>"
    }
}

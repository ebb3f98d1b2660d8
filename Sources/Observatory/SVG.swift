import Foundation

/// Text helpers shared by the plots. Every plot is SVG written as text, so the report needs
/// no plotting library, no browser and no network to be made.
///
/// Fragments carry no `xmlns` (inline SVG in HTML needs none, and the report must hold no
/// `http://` string); `standalone(_:)` adds it for a file meant to be opened on its own.
public enum SVG {
    /// Escapes the five XML special characters, for text and attribute values alike.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// A pixel coordinate: two decimals at most, trailing zeros dropped (keeps pages small).
    public static func px(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let scaled = (value * 100).rounded()
        if scaled == 0 { return "0" }
        let negative = scaled < 0
        let magnitude = Int64(abs(scaled))
        var text = String(magnitude / 100)
        let cents = magnitude % 100
        if cents != 0 {
            text += cents % 10 == 0 ? "." + String(cents / 10) : (cents < 10 ? ".0" : ".") + String(cents)
        }
        return negative ? "-" + text : text
    }

    /// A data value, exactly: Swift's shortest representation that reads back as the same
    /// Double, so a `data-*` attribute can be compared with the CSV it came from.
    public static func exact(_ value: Double) -> String {
        value.isFinite ? "\(value)" : (value.isNaN ? "NaN" : (value > 0 ? "Infinity" : "-Infinity"))
    }

    /// A tick label for `value` on a grid of spacing `step`: as many decimals as the step
    /// needs, exponent form for very large or very small magnitudes.
    public static func label(_ value: Double, step: Double) -> String {
        guard value.isFinite else { return "" }
        if value == 0 { return "0" }
        let magnitude = abs(value)
        if magnitude >= 1e6 || magnitude < 1e-4 { return exponent(value) }
        let decimals = step > 0 && step.isFinite ? max(0, min(10, Int((-Foundation.log10(step)).rounded(.up)))) : 3
        let text = String(format: "%.\(decimals)f", value)
        return text == "-0" ? "0" : text
    }

    /// A power-of-ten tick label for log axes: plain between 0.001 and 10000, `1e-5` beyond.
    public static func powerLabel(_ value: Double) -> String {
        guard value > 0, value.isFinite else { return "" }
        let e = Int(Foundation.log10(value).rounded())
        if (-3...4).contains(e) { return e >= 0 ? String(Int(value.rounded())) : String(format: "%.\(-e)f", value) }
        return exponent(value)
    }

    /// A general number for tables and captions: up to four significant digits.
    public static func short(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : (value > 0 ? "∞" : "−∞") }
        if value == value.rounded() && abs(value) < 1e9 { return String(Int64(value)) }
        let magnitude = abs(value)
        if magnitude >= 1e6 || magnitude < 1e-3 { return exponent(value) }
        return trimZeros(String(format: "%.4g", value))
    }

    /// `2.5e-5`: mantissa with at most three significant digits.
    static func exponent(_ value: Double) -> String {
        let text = String(format: "%.2e", value)   // "2.50e-05"
        guard let e = text.firstIndex(of: "e") else { return text }
        let mantissa = trimZeros(String(text[..<e]))
        let power = Int(text[text.index(after: e)...]) ?? 0
        return mantissa + "e" + String(power)
    }

    static func trimZeros(_ text: String) -> String {
        guard text.contains("."), !text.contains("e") else { return text }
        var t = Substring(text)
        while t.hasSuffix("0") { t = t.dropLast() }
        if t.hasSuffix(".") { t = t.dropLast() }
        return String(t)
    }

    /// Opening tag of an inline plot with a viewBox, so CSS can scale it to the page.
    static func open(width: Int, height: Int, label: String, cssClass: String) -> String {
        "<svg class=\"\(cssClass)\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\""
            + " role=\"img\" aria-label=\"\(escape(label))\" font-family=\"sans-serif\" font-size=\"11\">"
            + "<title>\(escape(label))</title>"
            + "<rect width=\"\(width)\" height=\"\(height)\" fill=\"#ffffff\"/>"
    }

    /// A `<text>` element; `anchor` is start, middle or end.
    static func text(_ content: String, x: Double, y: Double, anchor: String = "start", size: Double? = nil,
                     weight: String? = nil, fill: String = "#222222", rotate: Double? = nil,
                     halo: Bool = false) -> String {
        var attributes = "x=\"\(px(x))\" y=\"\(px(y))\""
        if anchor != "start" { attributes += " text-anchor=\"\(anchor)\"" }
        if let size { attributes += " font-size=\"\(px(size))\"" }
        if let weight { attributes += " font-weight=\"\(weight)\"" }
        attributes += " fill=\"\(fill)\""
        if let rotate { attributes += " transform=\"rotate(\(px(rotate)) \(px(x)) \(px(y)))\"" }
        // A white outline under the glyphs keeps labels readable on top of arrows and lines.
        if halo { attributes += " stroke=\"#ffffff\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\"" }
        return "<text \(attributes)>\(escape(content))</text>"
    }

    /// A whole SVG document (XML declaration and namespace) for saving a plot as a `.svg` file.
    public static func standalone(_ fragment: String) -> String {
        guard fragment.hasPrefix("<svg ") else { return fragment }
        let namespace = "http" + "://www.w3.org/2000/svg"
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"\(namespace)\" "
            + fragment.dropFirst(5) + "\n"
    }

    /// Approximate rendered width of `text` at `size` px in a sans-serif font (for legends).
    static func textWidth(_ text: String, size: Double = 11) -> Double { Double(text.count) * size * 0.55 }
}

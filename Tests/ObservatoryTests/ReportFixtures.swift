import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// An element of a parsed XML document, with its children, for queries in tests.
final class XMLNode {
    let name: String
    let attributes: [String: String]
    var children: [XMLNode] = []
    /// This element's own character data (not its children's).
    var text = ""
    /// Own text and children in document order, for `textContent`.
    fileprivate var content: [Either] = []
    fileprivate enum Either { case text(String), child(XMLNode) }

    init(name: String, attributes: [String: String]) { self.name = name; self.attributes = attributes }

    /// This node and everything below it, in document order.
    var all: [XMLNode] { [self] + children.flatMap(\.all) }

    func descendants(_ name: String) -> [XMLNode] { all.filter { $0.name == name } }

    /// All the text below this node in document order, like the DOM's `textContent`.
    var textContent: String {
        content.map { part in
            switch part { case .text(let t): t; case .child(let c): c.textContent }
        }.joined()
    }

    func hasClass(_ cssClass: String) -> Bool {
        (attributes["class"] ?? "").split(separator: " ").contains { $0 == cssClass }
    }

    /// The `g class="arrow"` elements below this node.
    var arrows: [XMLNode] { descendants("g").filter { $0.hasClass("arrow") } }
}

private final class TreeBuilder: NSObject, XMLParserDelegate {
    var stack: [XMLNode] = [XMLNode(name: "#document", attributes: [:])]

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        let node = XMLNode(name: name, attributes: attributes)
        stack.last!.children.append(node)
        stack.last!.content.append(.child(node))
        stack.append(node)
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        stack.removeLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        stack.last!.text += string
        stack.last!.content.append(.text(string))
    }
}

/// A test-side failure with a readable message (bad XML, a browser that hung).
struct TestFailure: Error, CustomStringConvertible {
    var description: String
}

/// Parses `text` as XML with Foundation's parser; throws with the line when it is not well-formed.
func parseXML(_ text: String) throws -> XMLNode {
    let parser = XMLParser(data: Data(text.utf8))
    let builder = TreeBuilder()
    parser.delegate = builder
    guard parser.parse() else {
        let line = parser.lineNumber
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let context = line > 0 && line <= lines.count ? String(lines[line - 1].prefix(200)) : ""
        throw TestFailure(description: "not well-formed at line \(line): \(parser.parserError.map { "\($0)" } ?? "?") near: \(context)")
    }
    return builder.stack[0]
}

/// Every `<svg …>…</svg>` fragment of an HTML page (plots are never nested).
func svgFragments(_ page: String) -> [String] {
    var out: [String] = []
    var rest = page[...]
    while let start = rest.range(of: "<svg "), let end = rest[start.lowerBound...].range(of: "</svg>") {
        out.append(String(rest[start.lowerBound..<end.upperBound]))
        rest = rest[end.upperBound...]
    }
    return out
}

/// A fresh directory removed after the test.
func reportTemporaryDirectory(_ test: XCTestCase) throws -> String {
    let path = NSTemporaryDirectory() + "observatory-report-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
}

/// A run directory as rank 0 writes it, with values a test can check against.
enum SyntheticRun {
    struct ProbeRow {
        var split: String, index: Int, label: Int
        var e: Double, ey: Double, ea: Double, eay: Double
        var aae: Bool
    }

    static let csvHeader = "split,index,label,pred_clean,pred_adv,E_x,E_xy,E_xadv,E_xadv_y,ce_clean,ce_adv,ce_ref,aae"

    /// Seeded probe rows: `train` train samples (every `aaeEvery`-th an AAE, 0: none) and `test` test samples.
    static func probeRows(epoch: Int, train: Int, test: Int, aaeEvery: Int) -> [ProbeRow] {
        var state = UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        var rows: [ProbeRow] = []
        for (split, count) in [("train", train), ("test", test)] {
            for i in 0..<count {
                // Energies as a classifier gives them: E(x,y) ≥ E(x) (cross-entropy ≥ 0). An
                // ordinary x* raises the loss a little; an AAE moves far and lowers it.
                let e = -8 - 4 * next() - Double(epoch) * 0.5
                let ce = 0.05 + 2.5 * next()
                let ey = e + ce
                let aae = split == "train" && aaeEvery > 0 && i % aaeEvery == 0
                let ea = aae ? e - 2 - 4 * next() : e + 0.6 * (next() - 0.5)
                let eay = ea + (aae ? ce * 0.4 * next() : ce + 0.8 * next())
                rows.append(ProbeRow(split: split, index: i * 7 + (split == "test" ? 10_000 : 0), label: i % 10,
                                     e: e, ey: ey, ea: ea, eay: eay, aae: aae))
            }
        }
        return rows
    }

    static func csv(_ rows: [ProbeRow]) -> String {
        var text = csvHeader + "\n"
        for r in rows {
            let fields: [String] = [r.split, String(r.index), String(r.label), String(r.label), String((r.label + 1) % 10),
                                    "\(r.e)", "\(r.ey)", "\(r.ea)", "\(r.eay)", "\(r.ey - r.e)", "\(r.eay - r.ea)",
                                    "\(r.ey - r.e)", r.aae ? "1" : "0"]
            text += fields.joined(separator: ",") + "\n"
        }
        return text
    }

    static func metricsLine(epoch: Int, alarms: String = "") -> String {
        let e = Double(epoch)
        let aae = epoch >= 3 ? 120 : (epoch == 2 ? 0 : 3)
        return #"{"epoch":\#(epoch),"step":\#(epoch * 469),"lr":\#(0.1 / e),"seconds":6.1,"samples_per_s":9800,"ranks":2,"#
            + #""train":{"samples":60000,"loss":\#(2.0 / e),"clean_acc":\#(0.5 + 0.05 * e),"adv_acc":\#(0.3 + 0.04 * e),"#
            + #""E_x":\#(-9 - e),"E_xadv":\#(-8.5 - e),"E_xy":\#(-7 - e),"E_xadv_y":\#(-6 - e),"abs_dE_x":\#(0.5 * e),"#
            + #""abs_dE_xy":\#(0.8 * e),"norm_dE":\#(e),"der":0.01,"ce_clean":0.9,"ce_adv":1.4,"aae_count":\#(aae),"#
            + #""aae_rate":\#(Double(aae) / 60000),"E_x_std":1.5},"#
            + #""test":{"samples":10000,"clean_acc":\#(0.55 + 0.045 * e),"fgsm_acc":\#(0.3 + 0.07 * e),"#
            + #""pgd_acc":\#(0.35 - 0.04 * e),"pgd_steps":10,"eps":0.3}\#(alarms)}"#
    }

    /// Writes config.json, metrics.jsonl (with a garbage line, an interval line and a torn last
    /// line) and one probe CSV per epoch; epoch 3 raises a CO alarm. Returns the directory.
    @discardableResult
    static func write(to directory: String, epochs: Int = 3, trainProbes: Int = 40, testProbes: Int = 8) throws -> String {
        let config = """
        {
          "attack" : { "alpha" : 0.375, "epsilon" : 0.3, "kind" : "fgsm-rs", "restarts" : 1, "steps" : 1 },
          "batchSize" : 128, "beta" : 0.5, "dataset" : "mnist", "der" : true, "epochs" : 30,
          "gamma" : 0.1, "model" : "cnn-small", "seed" : 7
        }
        """
        try config.write(toFile: directory + "/config.json", atomically: true, encoding: .utf8)
        var lines: [String] = []
        for epoch in 1...epochs {
            lines.append(#"{"interval":true,"epoch":\#(epoch),"epoch_progress":0.5,"step":\#(epoch * 469 - 200),"train":{"loss":1.0}}"#)
            let alarm = epoch == 3 ? #","alarms":[{"kind":"co","epoch":3,"message":"FGSM acc up 40 points while PGD acc fell"}]"# : ""
            lines.append(metricsLine(epoch: epoch, alarms: alarm))
            if epoch == 1 { lines.append("this is not json") }
        }
        lines.append(#"{"interval":true,"epoch":\#(epochs + 1),"epoch_progress":0.25,"train":{"loss":0.8}}"#)
        let text = lines.joined(separator: "\n") + "\n" + #"{"epoch":\#(epochs + 1),"train":{"lo"#
        try text.write(toFile: directory + "/metrics.jsonl", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: directory + "/energies", withIntermediateDirectories: true)
        for epoch in 1...epochs {
            let rows = probeRows(epoch: epoch, train: trainProbes, test: testProbes, aaeEvery: epoch == 1 ? 0 : 5)
            try csv(rows).write(toFile: directory + String(format: "/energies/epoch-%04d.csv", epoch),
                                atomically: true, encoding: .utf8)
        }
        return directory
    }
}

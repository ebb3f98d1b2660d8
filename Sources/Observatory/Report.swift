import DataIO
import Foundation

/// The run report: one self-contained HTML page (inline SVG, CSS and a few lines of JS; no
/// fonts, scripts or images from anywhere else) that a browser opens straight from the run
/// directory, even on a cluster node with no network. It reads the run as it is now, so it
/// can be rebuilt while training runs: a part whose files do not exist yet says so.
///
/// The markup is also well-formed XML (closed empty tags, quoted attributes, a script free of
/// `<` and `&`), so tests can check the whole page with an XML parser.
public enum Report {
    public static let fileName = "report.html"
    /// Quiver pairs are ~100 kB per epoch; beyond this many probe epochs the page keeps the
    /// first, the newest, every alarm epoch and an even spread of the rest.
    public static let maxQuiverEpochs = 24

    public enum Failure: Error, CustomStringConvertible {
        case notADirectory(String)
        public var description: String {
            switch self { case .notADirectory(let path): "\(path): not a run directory (no such directory)" }
        }
    }

    /// The page for the run in `runDirectory`, as it stands now.
    public static func html(runDirectory: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: runDirectory, isDirectory: &isDirectory), isDirectory.boolValue
        else { throw Failure.notADirectory(runDirectory) }
        let run = RunRecords(directory: runDirectory)
        let name = runName(runDirectory)
        var page = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
        page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
        page += "<title>\(SVG.escape(name)) · dist-train report</title>\n<style>\(style)</style>\n</head>\n<body>\n"
        page += header(run, name: name)
        page += "<nav><a href=\"#alarms\">Alarms</a><a href=\"#curves\">Curves</a>"
            + "<a href=\"#quiver\">Energy quivers</a><a href=\"#config\">Config</a></nav>\n"
        page += alarmsSection(run)
        page += curvesSection(run)
        page += quiverSection(run)
        page += configSection(run)
        page += "<footer>Made by dist-train's Observatory from \(SVG.escape(runDirectory)) at \(timestamp()).</footer>\n"
        page += "<script>\(script)</script>\n</body>\n</html>\n"
        return page
    }

    /// Writes `report.html` into the run directory atomically: a browser reloading it never
    /// sees half a page.
    public static func write(runDirectory: String) throws {
        let page = try html(runDirectory: runDirectory)
        try AtomicFile.write(page, to: runDirectory + "/" + fileName)
    }

    static func runName(_ directory: String) -> String {
        let trimmed = directory.hasSuffix("/") && directory.count > 1 ? String(directory.dropLast()) : directory
        let standard = (trimmed as NSString).standardizingPath
        let last = (standard as NSString).lastPathComponent
        return last.isEmpty || last == "." ? standard : last
    }

    static func timestamp() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date())
    }

    // MARK: header

    static func header(_ run: RunRecords, name: String) -> String {
        var s = "<header><h1>\(SVG.escape(name))</h1>\n"
        s += "<p class=\"status\">" + status(run) + "</p>\n"
        if let last = run.epochs.last {
            var cards: [(String, String)] = []
            func add(_ label: String, _ value: Double?, percent: Bool = false) {
                guard let value else { return }
                cards.append((label, percent ? percentText(value) : SVG.short(value)))
            }
            add("train clean acc", last.train["clean_acc"], percent: true)
            add("train adv acc", last.train["adv_acc"], percent: true)
            add("test clean acc", last.test["clean_acc"], percent: true)
            add("test FGSM acc", last.test["fgsm_acc"], percent: true)
            add("test PGD acc", last.test["pgd_acc"], percent: true)
            add("‖ΔE‖ mean", last.train["norm_dE"])
            add("AAE count", last.train["aae_count"])
            add("learning rate", last.values["lr"])
            add("samples/s", last.values["samples_per_s"])
            s += "<div class=\"cards\">" + cards.map { "<div class=\"card\"><span>\(SVG.escape($0.0))</span>"
                + "<b>\(SVG.escape($0.1))</b></div>" }.joined() + "</div>\n"
        }
        return s + "</header>\n"
    }

    static func status(_ run: RunRecords) -> String {
        let total = run.configValue("epochs").flatMap { Int($0) }
        var parts: [String] = []
        if let last = run.epochs.last {
            let done = "epoch \(last.epoch)" + (total.map { " of \($0)" } ?? "") + " done"
            let finished = total.map { last.epoch >= $0 } ?? false
            parts.append("<span class=\"badge \(finished ? "ok" : "running")\">\(finished ? "finished" : "in progress")</span> " + done)
        } else {
            parts.append("<span class=\"badge running\">starting</span> no epoch finished yet"
                         + (total.map { " (of \($0))" } ?? ""))
        }
        if let p = run.progress {
            parts.append("epoch \(p.epoch) at \(Int((p.fraction * 100).rounded()))%")
        }
        if let seconds = run.epochs.last?.values["seconds"] { parts.append("last epoch took \(SVG.short(seconds)) s") }
        if !run.alarms.isEmpty {
            parts.append("<a class=\"alarm-count\" href=\"#alarms\">\(run.alarms.count) alarm\(run.alarms.count == 1 ? "" : "s")</a>")
        }
        if run.skippedLines > 0 { parts.append("\(run.skippedLines) unreadable metrics line(s) skipped") }
        return parts.joined(separator: " · ")
    }

    static func percentText(_ value: Double) -> String {
        value <= 1.0000001 && value >= 0 ? String(format: "%.2f%%", value * 100) : SVG.short(value)
    }

    // MARK: alarms and config

    static func alarmsSection(_ run: RunRecords) -> String {
        var s = "<section id=\"alarms\"><h2>Alarms</h2>\n"
        if !run.metricsPresent {
            return s + "<p class=\"empty\">not yet available: no metrics.jsonl</p></section>\n"
        }
        guard !run.alarms.isEmpty else { return s + "<p class=\"empty\">no alarms</p></section>\n" }
        s += "<table class=\"alarms\"><thead><tr><th>epoch</th><th>kind</th><th>message</th></tr></thead><tbody>\n"
        for alarm in run.alarms {
            s += "<tr class=\"alarm-\(SVG.escape(alarm.kind))\"><td>\(alarm.epoch)</td>"
                + "<td><span class=\"kind\">\(SVG.escape(alarm.kind.uppercased()))</span> \(SVG.escape(kindName(alarm.kind)))</td>"
                + "<td>\(SVG.escape(alarm.message))</td></tr>\n"
        }
        return s + "</tbody></table></section>\n"
    }

    static func kindName(_ kind: String) -> String {
        switch kind.lowercased() {
        case "co": "catastrophic overfitting"
        case "ro": "robust overfitting"
        default: ""
        }
    }

    static func configSection(_ run: RunRecords) -> String {
        var s = "<section id=\"config\"><h2>Config</h2>\n"
        if let problem = run.configProblem { return s + "<p class=\"empty\">\(SVG.escape(problem))</p></section>\n" }
        guard let config = run.config else {
            return s + "<p class=\"empty\">not yet available: no config.json</p></section>\n"
        }
        s += "<table class=\"config\"><thead><tr><th>option</th><th>value</th></tr></thead><tbody>\n"
        for (key, value) in config {
            s += "<tr><td>\(SVG.escape(key))</td><td><code>\(SVG.escape(value))</code></td></tr>\n"
        }
        return s + "</tbody></table></section>\n"
    }
}

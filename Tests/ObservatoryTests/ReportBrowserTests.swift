@testable import Observatory
import Foundation
import XCTest

/// Renders the report in headless Chromium (Debian package `chromium`): the page must lay out,
/// paint plots, and keep its elements after the script ran. Skipped only when no `chromium`
/// binary is on PATH. Set OBSERVATORY_REPORT_OUTPUT to a directory to keep the page and PNG.
final class ReportBrowserTests: XCTestCase {
    func testHeadlessChromiumRendersTheReport() throws {
        guard let chromium = Self.executable("chromium") ?? Self.executable("chromium-browser") else {
            throw XCTSkip("no chromium binary on PATH; install Debian's package with `apt-get install -y chromium`")
        }
        let dir = try reportTemporaryDirectory(self)
        let run = dir + "/run-mnist-fgsm"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try SyntheticRun.write(to: run, epochs: 8, trainProbes: 300, testProbes: 20)
        try Report.write(runDirectory: run)
        let page = run + "/" + Report.fileName
        try "<!DOCTYPE html><html><body></body></html>".write(toFile: dir + "/blank.html", atomically: true, encoding: .utf8)

        let shot = dir + "/report.png", blankShot = dir + "/blank.png"
        try Self.run(chromium, Self.flags(dir) + ["--screenshot=\(shot)", "--window-size=1200,2000", "file://" + page])
        try Self.run(chromium, Self.flags(dir) + ["--screenshot=\(blankShot)", "--window-size=1200,2000", "file://\(dir)/blank.html"])
        let dom = try Self.run(chromium, Self.flags(dir) + ["--dump-dom", "file://" + page])
        if let keep = ProcessInfo.processInfo.environment["OBSERVATORY_REPORT_OUTPUT"] {
            try? FileManager.default.createDirectory(atPath: keep, withIntermediateDirectories: true)
            for (from, name) in [(page, "report.html"), (shot, "report.png"), (blankShot, "blank.png")] {
                try? FileManager.default.removeItem(atPath: keep + "/" + name)
                try FileManager.default.copyItem(atPath: from, toPath: keep + "/" + name)
            }
        }

        let png = try PNGSummary(path: shot), blank = try PNGSummary(path: blankShot)
        XCTAssertEqual(png.width, 1200)
        XCTAssertEqual(png.height, 2000)
        // A white page compresses to almost nothing; plots, text and colour do not.
        XCTAssertGreaterThan(png.fileSize, 40_000, "screenshot suspiciously small: blank page?")
        XCTAssertGreaterThan(png.idatBytes, 10 * max(blank.idatBytes, 1_000),
                             "report screenshot (\(png.idatBytes) B of image data) hardly differs from a blank page (\(blank.idatBytes) B)")

        XCTAssertTrue(dom.contains("<svg"), "no SVG in the rendered DOM")
        XCTAssertTrue(dom.contains("id=\"epoch-select\""), "no epoch selector")
        XCTAssertTrue(dom.contains("class=\"alarms\""), "no alarm table")
        XCTAssertTrue(dom.contains("class=\"arrow\""), "no quiver arrows")
        XCTAssertEqual(dom.components(separatedBy: "<svg").count - 1, 6 + 8 * 2)
        // After the script ran, exactly one epoch's pair is shown: the newest.
        let shown = dom.components(separatedBy: "class=\"quiver-epoch\"").dropFirst().filter { !$0.prefix(80).contains("hidden") }
        XCTAssertEqual(shown.count, 1)
        XCTAssertTrue(shown.first?.hasPrefix(" id=\"quiver-epoch-8\"") ?? false, String(shown.first?.prefix(80) ?? ""))

        // The script runs: a link to #epoch-2 shows epoch 2's pair instead.
        let linked = try Self.run(chromium, Self.flags(dir) + ["--dump-dom", "file://" + page + "#epoch-2"])
        let linkedShown = linked.components(separatedBy: "class=\"quiver-epoch\"").dropFirst()
            .filter { !$0.prefix(80).contains("hidden") }
        XCTAssertEqual(linkedShown.count, 1)
        XCTAssertTrue(linkedShown.first?.hasPrefix(" id=\"quiver-epoch-2\"") ?? false, String(linkedShown.first?.prefix(80) ?? ""))
    }

    static func flags(_ dir: String) -> [String] {
        ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-dev-shm-usage", "--user-data-dir=\(dir)/chromium-profile"]
    }

    static func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs the browser with a two-minute limit; returns its standard output.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let out = NSTemporaryDirectory() + "chromium-out-" + UUID().uuidString
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: out) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw TestFailure(description: "chromium did not finish within 120 s: \(arguments.joined(separator: " "))")
        }
        process.waitUntilExit()
        let text = String(decoding: FileManager.default.contents(atPath: out) ?? Data(), as: UTF8.self)
        guard process.terminationStatus == 0 else {
            XCTFail("chromium exited with status \(process.terminationStatus): \(arguments.joined(separator: " "))")
            return text
        }
        return text
    }
}

/// The size facts of a PNG: its dimensions (IHDR) and how many compressed image bytes (IDAT)
/// it holds, which tracks how much is drawn without decoding pixels.
struct PNGSummary {
    var width = 0, height = 0, idatBytes = 0, fileSize = 0

    init(path: String) throws {
        let bytes = try XCTUnwrap(FileManager.default.contents(atPath: path).map { [UInt8]($0) }, "no PNG at \(path)")
        fileSize = bytes.count
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "not a PNG")
        func be32(_ i: Int) -> Int { bytes[i..<i + 4].reduce(0) { $0 << 8 | Int($1) } }
        var offset = 8
        while offset + 8 <= bytes.count {
            let length = be32(offset)
            let type = String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self)
            if type == "IHDR", offset + 16 <= bytes.count { width = be32(offset + 8); height = be32(offset + 12) }
            if type == "IDAT" { idatBytes += length }
            if type == "IEND" { break }
            offset += 12 + length
        }
    }
}

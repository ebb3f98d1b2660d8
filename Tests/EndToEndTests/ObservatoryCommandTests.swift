import DataIO
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// The run directory and what rank 0 shows, as a user meets them: the default directory
/// name, `--config` read back with overrides, progress on a terminal and off one,
/// `dist-train report DIR`, and `--stop-on ro`.
final class ObservatoryCommandTests: XCTestCase {
    /// Epochs of 10 steps on 640 samples: about a second each.
    func quick(epochs: Int = 1, probes: Int = 0) -> [String] {
        ["--data-dir", Launcher.dataDirectory, "--model", "mlp", "--at", "fgsm", "--train-samples", "640",
         "--batch-size", "64", "--epochs", String(epochs), "--eval-samples", "32", "--eval-pgd-steps", "1",
         "--probe-samples", String(probes), "--test-probe-samples", String(probes / 6), "--threads", "1"]
    }
    var quick: [String] { quick() }

    func json(_ path: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any], path)
    }

    func epochLines(_ dir: String) throws -> [[String: Any]] {
        try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }.filter { $0["interval"] == nil }
    }

    // MARK: run directory

    /// Without --out the run goes to runs/<yyyyMMdd-HHmmss>-<model>-<at> (UTC) under the
    /// working directory, with "-<job id>" when SLURM_JOB_ID is set.
    func testDefaultRunDirectoryIsNamedByTimeModelAttackAndSlurmJob() throws {
        let cwd = Launcher.temporaryDirectory("default-out")
        defer { try? FileManager.default.removeItem(atPath: cwd) }
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        for (job, suffix) in [("4242", "-4242"), (nil, "")] {
            let before = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
            // `env -u` so that a SLURM_JOB_ID of the test's own environment does not leak in.
            let env = ["/usr/bin/env", "-u", "SLURM_JOB_ID"] + (job.map { ["SLURM_JOB_ID=\($0)"] } ?? [])
            let r = try Launcher.run("/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", cwd] + env + [Launcher.binary, "train"] + quick)
            let after = Date()
            XCTAssertEqual(r.status, 0, r.stderr)
            let made = try FileManager.default.contentsOfDirectory(atPath: cwd + "/runs").filter { $0.hasSuffix("-mlp-fgsm" + suffix) }
            XCTAssertEqual(made.count, 1, "\(made)")
            let name = try XCTUnwrap(made.first)
            try FileManager.default.moveItem(atPath: cwd + "/runs/" + name, toPath: cwd + "/done-" + name)
            XCTAssertEqual(name.count, "yyyyMMdd-HHmmss".count + "-mlp-fgsm".count + suffix.count, name)
            let stamp = try XCTUnwrap(formatter.date(from: String(name.prefix(15))), "no UTC time stamp in \(name)")
            XCTAssert(stamp >= before && stamp <= after, "\(name) is not the start time")
            XCTAssert(r.stdout.contains("done: runs/\(name)"), r.stdout)
            let config = try json(cwd + "/done-" + name + "/config.json")
            XCTAssertEqual(config["outputDirectory"] as? String, "runs/" + name)
        }
    }

    /// config.json read back with --config gives the same configuration; an option given on
    /// the command line overrides the file; an unknown key is named.
    func testConfigFileRoundTripWithACommandLineOverride() throws {
        let first = Launcher.temporaryDirectory("config-a"), second = Launcher.temporaryDirectory("config-b")
        defer { for d in [first, second] { try? FileManager.default.removeItem(atPath: d) } }
        // Options away from their defaults, so that falling back to a default shows.
        let r = try Launcher.train(ranks: 1, quick + ["--beta", "0.5", "--gamma", "0.25", "--eps", "0.2", "--alpha", "0.05",
                                                      "--lr-schedule", "constant", "--co-gap", "0.3", "--seed", "9",
                                                      "--keep-checkpoints", "2", "--out", first])
        XCTAssertEqual(r.status, 0, r.stderr)
        let r2 = try Launcher.train(ranks: 1, ["--config", first + "/config.json", "--seed", "10", "--threads", "1", "--out", second])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        let a = try json(first + "/config.json"), b = try json(second + "/config.json")
        XCTAssertEqual(Set(a.keys), Set(b.keys))
        func text(_ value: Any) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys]), as: UTF8.self)
        }
        for key in a.keys.sorted() where !["seed", "outputDirectory"].contains(key) {
            XCTAssertEqual(try text(b[key]!), try text(a[key]!), key)
        }
        XCTAssertEqual(a["seed"] as? Int, 9)
        XCTAssertEqual(b["seed"] as? Int, 10, "the command line overrides the file")
        XCTAssertEqual(b["outputDirectory"] as? String, second)
        XCTAssertEqual((b["attack"] as? [String: Any])?["alpha"] as? Double, 0.05, "an explicit α survives the round trip")
        XCTAssertEqual(b["beta"] as? Double, 0.5)
        XCTAssertEqual(try epochLines(second).count, 1, "the second run trained")

        let bad = second + "/bad.json"
        try #"{"betta": 1}"#.write(toFile: bad, atomically: true, encoding: .utf8)
        let r3 = try Launcher.run(Launcher.binary, ["train", "--config", bad, "--out", second + "/c"], timeout: 60)
        XCTAssertNotEqual(r3.status, 0)
        XCTAssert(r3.stderr.contains("unknown key 'betta'") && r3.stderr.contains(bad), r3.stderr)
    }

    // MARK: progress

    static func progressSteps(_ text: String) -> [Int] {
        text.components(separatedBy: "epoch 1/1  step ").dropFirst().compactMap { Int($0.prefix { $0 != "/" }) }
    }

    /// Off a terminal: plain lines, five per epoch by default, every N steps with --log-every.
    func testProgressOffATerminalIsPlainPeriodicLines() throws {
        let dir = Launcher.temporaryDirectory("progress")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (extra, expected) in [([String](), [2, 4, 6, 8, 10]), (["--log-every", "3"], [3, 6, 9])] {
            let r = try Launcher.train(ranks: 1, quick + extra + ["--out", dir + "/\(expected.count)"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertFalse(r.stdout.contains("\r"), "no in-place updates in a log file")
            let lines = r.stdout.split(separator: "\n").filter { $0.hasPrefix("epoch 1/1  step ") }
            XCTAssertEqual(lines.compactMap { Self.progressSteps(String($0)).first }, expected, r.stdout)
            for line in lines {
                for field in ["samples/s", "ETA ", "loss ", "AAE "] { XCTAssert(line.contains(field), "\(line) lacks \(field)") }
            }
        }
    }

    /// On a terminal (a pty from util-linux `script`): one line rewritten in place with "\r"
    /// at every step, cut to the terminal's width, and cleared before the epoch summary.
    func testProgressOnATerminalUpdatesOneLineInPlace() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            throw XCTSkip("no /usr/bin/script (util-linux) to provide a terminal")
        }
        let dir = Launcher.temporaryDirectory("progress-tty")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let command = "stty cols 60; exec " + ([Launcher.binary] + quick + ["--out", dir]).map { "'\($0)'" }.joined(separator: " ")
        let r = try Launcher.run("/bin/sh", ["-c", "exec /usr/bin/script -qec \"$0\" /dev/null < /dev/null", command])
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
        XCTAssertEqual(Self.progressSteps(r.stdout), Array(1...10), r.stdout)
        let updates = r.stdout.components(separatedBy: "\r").filter { $0.hasPrefix("epoch 1/1  step ") }
        XCTAssertEqual(updates.count, 10)
        for u in updates {
            XCTAssertFalse(u.contains("\n"), "an update ends the line: \(u.debugDescription)")
            XCTAssertLessThan(u.count, 60, "longer than the terminal: \(u.debugDescription)")
        }
        // The epoch summary starts on a cleared line: "\r", spaces over the last update, "\r".
        let parts = r.stdout.components(separatedBy: "\r")
        let summary = try XCTUnwrap(parts.lastIndex { $0.hasPrefix("epoch 1/1  ") && !$0.hasPrefix("epoch 1/1  step") },
                                    r.stdout.debugDescription)
        XCTAssert(!parts[summary - 1].isEmpty && parts[summary - 1].allSatisfy { $0 == " " }, parts[summary - 1].debugDescription)
    }

    // MARK: report and stop-on

    /// `dist-train report DIR` rebuilds report.html and the quiver files from the run's files.
    func testReportCommandRebuildsThePageFromTheRunFiles() throws {
        let dir = Launcher.temporaryDirectory("report-cmd")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Launcher.train(ranks: 1, quick(epochs: 2, probes: 30) + ["--out", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let energies = dir + "/energies"
        let svgs = try FileManager.default.contentsOfDirectory(atPath: energies).filter { $0.hasSuffix(".svg") }.sorted()
        XCTAssertEqual(svgs, ["quiver-aae-epoch-0001.svg", "quiver-aae-epoch-0002.svg", "quiver-epoch-0001.svg", "quiver-epoch-0002.svg"],
                       "the trainer writes both quiver plots of every epoch")
        for name in svgs {
            let parser = XMLParser(contentsOf: URL(fileURLWithPath: energies + "/" + name))!
            XCTAssert(parser.parse(), "\(name) is not well-formed XML: \(String(describing: parser.parserError))")
        }
        try FileManager.default.removeItem(atPath: dir + "/report.html")
        for name in svgs { try FileManager.default.removeItem(atPath: energies + "/" + name) }

        let rebuilt = try Launcher.run(Launcher.binary, ["report", dir], timeout: 60)
        XCTAssertEqual(rebuilt.status, 0, rebuilt.stderr)
        XCTAssert(rebuilt.stdout.contains("wrote \(dir)/report.html"), rebuilt.stdout)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: energies).filter { $0.hasSuffix(".svg") }.sorted(), svgs)
        let page = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        XCTAssert(XMLParser(data: Data(page.utf8)).parse(), "report.html is not well-formed")
        XCTAssert(page.contains("epoch 2 of 2 done"), "status line")
        XCTAssert(page.contains("<option value=\"2\" selected=\"selected\">") && page.contains("<option value=\"1\">"),
                  "the epoch selector")
        // Every train probe row of epoch 2 is an arrow of the visible plot.
        let rows = try String(contentsOfFile: energies + "/epoch-0002.csv", encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix("train,") }
        XCTAssertEqual(rows.count, 30)
        for row in rows {
            let f = row.split(separator: ",")
            XCTAssert(page.contains("data-id=\"\(f[1])\" data-x0=\"\(f[5])\" data-y0=\"\(f[6])\""), "no arrow for \(row)")
        }
        let missing = try Launcher.run(Launcher.binary, ["report", dir + "/nonexistent"], timeout: 60)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssert(missing.stderr.contains("not a run directory"), missing.stderr)
    }

    /// An RO alarm (a tiny --ro-drop: any fall below the best while training robust accuracy
    /// rises) with `--stop-on ro` ends the run after that epoch, with a checkpoint.
    func testStopOnROEndsTheRunAtTheAlarm() throws {
        let dir = Launcher.temporaryDirectory("stop-ro")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Launcher.train(ranks: 1, ["--data-dir", Launcher.dataDirectory, "--model", "mlp", "--at", "fgsm-rs",
                                              "--train-samples", "512", "--batch-size", "64", "--epochs", "4",
                                              "--eval-samples", "64", "--eval-pgd-steps", "2", "--seed", "3",
                                              "--threads", "1", "--ro-drop", "0.0001", "--stop-on", "ro",
                                              "--probe-samples", "0", "--test-probe-samples", "0", "--out", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = try epochLines(dir)
        func kinds(_ line: [String: Any]) -> [String] { ((line["alarms"] as? [[String: Any]]) ?? []).compactMap { $0["kind"] as? String } }
        XCTAssertLessThan(lines.count, 4, "the run stops at the alarm")
        XCTAssert(kinds(lines.last ?? [:]).contains("ro"), "the last epoch raised RO: \(lines.map(kinds))")
        XCTAssert(lines.dropLast().allSatisfy { !kinds($0).contains("ro") }, "an earlier RO would have stopped the run")
        XCTAssert(r.stderr.contains("ALARM (robust overfitting) at epoch \(lines.count)"), r.stderr)
        XCTAssert(r.stdout.contains("stopping: --stop-on ro and the alarm fired at epoch \(lines.count)"), r.stdout)
        XCTAssertEqual(try Launcher.finalCheckpoint(dir).globalStep, 8 * lines.count, "a checkpoint of the stopping epoch")
    }
}

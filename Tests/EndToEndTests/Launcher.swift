import DataIO
import Foundation
import XCTest

/// Runs the built `dist-train` binary, plainly or under `mpirun`, and reads its outputs.
enum Launcher {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The products directory of this test bundle holds the `dist-train` executable.
    static var binary: String {
        // On Linux the bundle URL is the products directory itself; elsewhere, the .xctest bundle in it.
        let bundle = Bundle(for: Marker.self).bundleURL
        for dir in [bundle, bundle.deletingLastPathComponent()] {
            let candidate = dir.appendingPathComponent("dist-train").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return bundle.appendingPathComponent("dist-train").path
    }

    static var mpirun: String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let p = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    static var dataDirectory: String { "/usr/share/datasets/fashion-mnist" }

    /// Runs `executable args`, killing it after `timeout` seconds.
    /// `unset` names variables removed from the environment (after OPENBLAS_NUM_THREADS=1 is set).
    static func run(_ executable: String, _ args: [String], environment extra: [String: String] = [:],
                    unset: [String] = [], timeout: TimeInterval = 300) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = "1"
        for (k, v) in extra { env[k] = v }
        for k in unset { env[k] = nil }
        process.environment = env
        let outFile = FileManager.default.temporaryDirectory.appendingPathComponent("dt-out-\(UUID().uuidString)")
        let errFile = FileManager.default.temporaryDirectory.appendingPathComponent("dt-err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outFile); try? FileManager.default.removeItem(at: errFile) }
        process.standardOutput = try FileHandle(forWritingTo: outFile)
        process.standardError = try FileHandle(forWritingTo: errFile)
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            usleep(500_000)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            XCTFail("\(executable) \(args.joined(separator: " ")) timed out after \(timeout) s")
        }
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: (try? String(contentsOf: outFile, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: errFile, encoding: .utf8)) ?? "")
    }

    /// `dist-train ARGS` as a plain process (ranks == 1) or under mpirun with `ranks` ranks.
    static func train(ranks: Int, _ args: [String], timeout: TimeInterval = 300) throws -> Result {
        if ranks == 1 { return try run(binary, args, timeout: timeout) }
        return try underMPI(ranks: ranks, args, timeout: timeout)
    }

    /// `mpirun -np RANKS dist-train ARGS`, also for one rank (an MPI world of size 1, unlike `train`).
    static func underMPI(ranks: Int, _ args: [String], timeout: TimeInterval = 300) throws -> Result {
        guard let mpirun else {
            throw XCTSkip("mpirun not found: install openmpi-bin (launch/install-deps.sh)")
        }
        let mpiArgs = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", String(ranks),
                       "-x", "OPENBLAS_NUM_THREADS", "-x", "OMPI_MCA_mpi_yield_when_idle", binary] + args
        return try run(mpirun, mpiArgs, environment: ["OMPI_MCA_mpi_yield_when_idle": "1"], timeout: timeout)
    }

    static func temporaryDirectory(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dist-train-e2e-\(name)-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The newest checkpoint of a run directory.
    static func finalCheckpoint(_ runDirectory: String) throws -> Checkpoint {
        let dir = runDirectory + "/checkpoints"
        let all = try FileManager.default.contentsOfDirectory(atPath: dir)
        let names = all.filter { $0.hasSuffix(".dtck") }.sorted()
        // A run that exited 0 must have left a checkpoint: its absence is a failure, not a skip.
        guard let last = names.last else { throw LauncherError("no checkpoint (*.dtck) in \(dir); it holds \(all.sorted())") }
        return try Checkpoint.read(from: dir + "/" + last)
    }

    /// ‖a − b‖₂ / ‖a‖₂.
    static func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var num = 0.0, den = 0.0
        for (x, y) in zip(a, b) { num += Double(x - y) * Double(x - y); den += Double(x) * Double(x) }
        return (num / max(den, 1e-300)).squareRoot()
    }
}

private final class Marker {}

/// A run's outputs are missing or unreadable; thrown from a test, it fails the test.
struct LauncherError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Launcher {
    /// A running `dist-train` (plain or under mpirun) whose output goes to files.
    final class Running {
        let process: Process
        let stdoutPath: String
        let stderrPath: String
        init(process: Process, stdoutPath: String, stderrPath: String) {
            self.process = process; self.stdoutPath = stdoutPath; self.stderrPath = stderrPath
        }
        var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
        var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

        /// Waits until `stdout` contains `text` (true) or the process ends or time runs out (false).
        func waitFor(_ text: String, timeout: TimeInterval) -> Bool {
            waitUntil(\.stdout, contains: text, timeout: timeout)
        }

        /// Waits until `stderr` contains `text` (true) or the process ends or time runs out (false).
        func waitForError(_ text: String, timeout: TimeInterval) -> Bool {
            waitUntil(\.stderr, contains: text, timeout: timeout)
        }

        private func waitUntil(_ stream: KeyPath<Running, String>, contains text: String, timeout: TimeInterval) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if self[keyPath: stream].contains(text) { return true }
                if !process.isRunning { return self[keyPath: stream].contains(text) }
                usleep(10_000)
            }
            return false
        }

        func wait(timeout: TimeInterval) -> Int32? {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit(); return nil }
            process.waitUntilExit()
            return process.terminationStatus
        }
    }

    static func start(ranks: Int, _ args: [String], environment extra: [String: String] = [:]) throws -> Running {
        let process = Process()
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = "1"
        env["OMPI_MCA_mpi_yield_when_idle"] = "1"
        for (k, v) in extra { env[k] = v }
        process.environment = env
        if ranks == 1 {
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = args
        } else {
            guard let mpirun else { throw XCTSkip("mpirun not found") }
            process.executableURL = URL(fileURLWithPath: mpirun)
            process.arguments = ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", String(ranks),
                                 "-x", "OPENBLAS_NUM_THREADS", "-x", "OMPI_MCA_mpi_yield_when_idle"]
                + extra.keys.sorted().flatMap { ["-x", $0] } + [binary] + args
        }
        let dir = temporaryDirectory("proc")
        let out = dir + "/stdout", err = dir + "/stderr"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        try process.run()
        return Running(process: process, stdoutPath: out, stderrPath: err)
    }
}

extension Launcher {
    /// The JSON rows of a quick `dist-train bench --json` (one timed block of 0.01 s, a 64³ peak)
    /// with `args` added; fails the test if the bench does not exit 0.
    static func benchRows(_ args: [String], environment: [String: String] = [:], unset: [String] = [],
                          timeout: TimeInterval = 300, file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        let r = try run(binary, ["bench", "--json", "--repeats", "1", "--seconds", "0.01", "--peak-size", "64"] + args,
                        environment: environment, unset: unset, timeout: timeout)
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        return try r.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }.map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], String($0), file: file, line: line)
        }
    }
}

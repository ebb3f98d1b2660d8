import DataIO
import Foundation
import XCTest

/// Shared pieces of the cluster tests: where things are, running commands under `timeout -k`,
/// single-process reference runs, checkpoints. The tests need root (network namespaces, SLURM
/// daemons); they install the packages they need with launch/cluster/install-cluster-deps.sh.
enum Harness {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var seconds: Double
        /// `timeout` exits with 124 when the limit ran out (137 when it had to send KILL).
        var timedOut: Bool { status == 124 || status == 137 }
        var output: String { stdout + (stderr.isEmpty ? "" : "\n[stderr]\n" + stderr) }
    }

    /// The repository root, found from this file's location (Tests/ClusterTests/…).
    static let repoRoot: String = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    static func script(_ relative: String) -> String { repoRoot + "/" + relative }

    /// The `dist-train` built next to this test bundle.
    static var binary: String {
        let bundle = Bundle(for: Marker.self).bundleURL
        for dir in [bundle, bundle.deletingLastPathComponent()] {
            let candidate = dir.appendingPathComponent("dist-train").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return bundle.appendingPathComponent("dist-train").path
    }

    static let dataDirectory = "/usr/share/datasets/fashion-mnist"

    static func which(_ name: String) -> String? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
        for dir in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return nil
    }

    /// Runs `command` as `timeout -k grace limit command…`, with output in files (no pipe to fill).
    /// A Swift-side deadline backs `timeout` up.
    static func run(_ command: [String], environment extra: [String: String] = [:], limit: Double,
                    grace: Double = 5, directory: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: which("timeout") ?? "/usr/bin/timeout")
        process.arguments = ["-k", "\(Int(grace.rounded(.up)))", "\(Int(limit.rounded(.up)))"] + command
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = "1"
        env["PATH"] = (env["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        for (k, v) in extra { env[k] = v }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let dir = temporaryDirectory("cmd")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/stdout", err = dir + "/stderr"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        process.standardInput = FileHandle.nullDevice
        let start = Date()
        try process.run()
        let deadline = start.addingTimeInterval(limit + grace + 10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        var status: Int32 = -1
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            let last = Date().addingTimeInterval(5)
            while process.isRunning && Date() < last { usleep(20_000) }
        }
        // Foundation's Process sees the end only when every holder of its monitoring descriptor
        // has closed it: a daemon that inherited it would make waitUntilExit() hang for good.
        if !process.isRunning { process.waitUntilExit(); status = process.terminationStatus }
        var stderr = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        if status == -1 { stderr += "\n[harness] \(command.joined(separator: " ")) did not end (a descendant still holds its descriptors?)" }
        return Result(status: status,
                      stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                      stderr: stderr,
                      seconds: Date().timeIntervalSince(start))
    }

    static func temporaryDirectory(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("dist-train-cluster-\(name)-\(UUID().uuidString.prefix(8))").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    // MARK: - Root and packages

    private static let setupLock = NSLock()
    nonisolated(unsafe) private static var setupOutcome: String??   // nil: not tried; .some(nil): ok

    /// Skips unless running as root with the cluster packages installed (installing them if
    /// missing, once per process) and the built binary and data present.
    static func requireClusterTools() throws {
        guard getuid() == 0 else {
            throw XCTSkip("cluster tests need root (network namespaces, SLURM daemons); running as uid \(getuid())")
        }
        setupLock.lock()
        defer { setupLock.unlock() }
        if setupOutcome == nil {
            var problem: String?
            let r = try run([script("launch/cluster/install-cluster-deps.sh")], limit: 600, grace: 10)
            if r.status != 0 {
                problem = "launch/cluster/install-cluster-deps.sh failed (\(r.status)):\n\(r.output)"
            } else {
                for tool in ["ip", "tc", "unshare", "mpirun", "sbatch", "srun", "scontrol", "slurmctld", "slurmd", "munged"]
                where which(tool) == nil {
                    problem = "\(tool) not found after installing the cluster packages"
                }
            }
            setupOutcome = .some(problem)
        }
        if case .some(.some(let problem)) = setupOutcome { throw XCTSkip(problem) }
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw XCTSkip("dist-train is not built next to the tests (\(binary))")
        }
        guard FileManager.default.fileExists(atPath: dataDirectory) else {
            throw XCTSkip("no data in \(dataDirectory): run launch/install-deps.sh")
        }
    }

    // MARK: - Training runs and checkpoints

    /// Small runs: 2 cores are shared, and the whole ClusterTests run should stay within minutes.
    static func trainOptions(samples: Int = 600, batch: Int = 60, epochs: Int = 2, seed: Int = 7,
                             logEvery: Int? = nil) -> [String] {
        var a = ["--data-dir", dataDirectory, "--model", "mlp", "--at", "fgsm-rs",
                 "--train-samples", "\(samples)", "--batch-size", "\(batch)", "--epochs", "\(epochs)",
                 "--eval-samples", "64", "--eval-pgd-steps", "2", "--seed", "\(seed)", "--threads", "1"]
        if let logEvery { a += ["--log-every", "\(logEvery)"] }
        return a
    }

    private static let referenceLock = NSLock()
    nonisolated(unsafe) private static var references: [[String]: [Float]] = [:]

    /// Final parameters of an uninterrupted run of `options`: a plain single process, or
    /// `mpirun -np ranks` on this host (computed once per process and rank count).
    static func referenceParameters(_ options: [String], ranks: Int = 1) throws -> [Float] {
        referenceLock.lock()
        defer { referenceLock.unlock() }
        let key = options + ["ranks=\(ranks)"]
        if let p = references[key] { return p }
        let out = temporaryDirectory("reference")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let launcher = ranks == 1 ? [] : ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "\(ranks)"]
        let r = try run(launcher + [binary, "train"] + options + ["--out", out],
                        environment: ["OMPI_MCA_mpi_yield_when_idle": "1"], limit: 180)
        guard r.status == 0 else {
            XCTFail("reference run (\(ranks) rank(s)) failed (\(r.status)):\n\(r.output)")
            throw XCTSkip("no reference")
        }
        let p = try finalCheckpoint(out).parameters
        references[key] = p
        return p
    }

    /// The newest checkpoint of a run directory (names are step-<zero-padded global step>).
    static func finalCheckpoint(_ runDirectory: String) throws -> Checkpoint {
        let dir = runDirectory + "/checkpoints"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .filter { $0.hasSuffix(".dtck") }.sorted()
        guard let last = names.last else {
            XCTFail("no checkpoint in \(dir)")
            throw XCTSkip("no checkpoint in \(dir)")
        }
        return try Checkpoint.read(from: dir + "/" + last)
    }

    /// ‖a − b‖₂ / ‖a‖₂.
    static func relativeDifference(_ a: [Float], _ b: [Float]) -> Double {
        guard a.count == b.count else { return .infinity }
        var num = 0.0, den = 0.0
        for (x, y) in zip(a, b) { num += Double(x - y) * Double(x - y); den += Double(x) * Double(x) }
        return (num / max(den, 1e-300)).squareRoot()
    }

    /// Asserts the final checkpoint of `runDirectory` matches a single-process run of `options`.
    static func assertMatchesSingleProcess(_ runDirectory: String, _ options: [String], what: String,
                                           file: StaticString = #filePath, line: UInt = #line) throws {
        try assertMatchesUninterrupted(runDirectory, options, ranks: 1, what: what, file: file, line: line)
    }

    /// Asserts the final checkpoint of `runDirectory` matches an uninterrupted run of `options` on
    /// `ranks` ranks within 1e-5 relative.
    static func assertMatchesUninterrupted(_ runDirectory: String, _ options: [String], ranks: Int, what: String,
                                           file: StaticString = #filePath, line: UInt = #line) throws {
        let reference = try referenceParameters(options, ranks: ranks)
        let params = try finalCheckpoint(runDirectory).parameters
        XCTAssert(params.allSatisfy(\.isFinite), "\(what): non-finite parameters", file: file, line: line)
        let diff = relativeDifference(reference, params)
        let against = ranks == 1 ? "the single-process run" : "an uninterrupted \(ranks)-rank run"
        print("\(what): relative difference to \(against): \(diff)")
        XCTAssertLessThanOrEqual(diff, 1e-5, "\(what) differs from \(against) by \(diff)", file: file, line: line)
    }

    static func tail(_ path: String, lines: Int = 30) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(no \(path))"
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}

private final class Marker {}

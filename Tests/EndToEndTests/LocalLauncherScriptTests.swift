import DataIO
import Foundation
import XCTest

/// launch/dist-train-local.sh: the mpirun command line it builds (--dry-run) and a real tiny
/// run through it.
final class LocalLauncherScriptTests: XCTestCase {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("launch/dist-train-local.sh").path

    /// The script's report of a dry run: the core count it found and the printed command line.
    struct DryRun {
        var cores: Int
        var command: [String]
        /// `VAR=value` words printed before mpirun.
        var variables: [String: String]
    }

    func dryRun(np: Int, environment: [String: String] = [:], unset: [String] = [],
                file: StaticString = #filePath, line: UInt = #line) throws -> DryRun {
        guard Launcher.mpirun != nil else { throw XCTSkip("mpirun not found: install openmpi-bin (launch/install-deps.sh)") }
        let r = try Launcher.run("/bin/bash", [Self.script, "-np", String(np), "--bin", Launcher.binary, "--dry-run",
                                               "--", "train", "--epochs", "1"],
                                 environment: environment, unset: unset, timeout: 60)
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        XCTAssertEqual(r.stdout, "", "a dry run writes only to stderr", file: file, line: line)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        // "[dist-train-local] N rank(s) on C core(s)"
        let summary = try XCTUnwrap(lines.first { $0.contains("rank(s) on") }, r.stderr, file: file, line: line)
        let words = summary.split(separator: " ")
        let cores = try XCTUnwrap(words.firstIndex(of: "core(s)").flatMap { Int(words[$0 - 1]) }, summary,
                                  file: file, line: line)
        let commandLine = try XCTUnwrap(lines.first { $0.hasPrefix("+ ") }, r.stderr, file: file, line: line)
        var variables: [String: String] = [:], command: [String] = []
        // Words are printed with %q; none of these contain spaces or quotes.
        for word in commandLine.dropFirst(2).split(separator: " ").map(String.init) {
            if command.isEmpty, let eq = word.firstIndex(of: "="), !word.hasPrefix("-") {
                variables[String(word[..<eq])] = String(word[word.index(after: eq)...])
            } else {
                command.append(word)
            }
        }
        return DryRun(cores: cores, command: command, variables: variables)
    }

    func testDryRunFlagsFollowRanksAndCores() throws {
        let isRoot = getuid() == 0
        // One rank: no oversubscription; OPENBLAS_NUM_THREADS = cores / 1.
        let one = try dryRun(np: 1, unset: ["OPENBLAS_NUM_THREADS", "OMPI_MCA_mpi_yield_when_idle"])
        XCTAssertGreaterThanOrEqual(one.cores, 1)
        XCTAssertEqual(one.command.first.map { ($0 as NSString).lastPathComponent }, "mpirun", "\(one.command)")
        XCTAssertEqual(one.variables["OPENBLAS_NUM_THREADS"], String(one.cores))
        XCTAssertFalse(one.command.contains("--oversubscribe"), "\(one.command)")
        XCTAssertEqual(one.command.contains("--allow-run-as-root"), isRoot, "root: \(isRoot), \(one.command)")
        let np = try XCTUnwrap(one.command.firstIndex(of: "-np"))
        XCTAssertEqual(one.command[np + 1], "1")
        let x = try XCTUnwrap(one.command.firstIndex(of: "-x"))
        XCTAssertEqual(one.command[x + 1], "OPENBLAS_NUM_THREADS", "the thread count is exported to the ranks")
        XCTAssertTrue(one.command.contains("--bind-to") && one.command.contains("none"), "\(one.command)")
        // The binary, then dist-train's own arguments, last and unchanged.
        XCTAssertEqual(Array(one.command.suffix(4)), [Launcher.binary, "train", "--epochs", "1"])

        // More ranks than cores: --oversubscribe, idle ranks yield, one BLAS thread each.
        let over = try dryRun(np: one.cores + 1, unset: ["OPENBLAS_NUM_THREADS", "OMPI_MCA_mpi_yield_when_idle"])
        XCTAssertEqual(over.cores, one.cores)
        XCTAssertTrue(over.command.contains("--oversubscribe"), "\(over.command)")
        XCTAssertEqual(over.variables["OPENBLAS_NUM_THREADS"], "1")
        XCTAssertEqual(over.variables["OMPI_MCA_mpi_yield_when_idle"], "1")
        XCTAssertTrue(zip(over.command, over.command.dropFirst()).contains { $0 == ("-x", "OMPI_MCA_mpi_yield_when_idle") },
                      "\(over.command)")
        XCTAssertEqual(over.command.contains("--allow-run-as-root"), isRoot)

        // A thread count already set is kept.
        let set = try dryRun(np: 1, environment: ["OPENBLAS_NUM_THREADS": "3"])
        XCTAssertEqual(set.variables["OPENBLAS_NUM_THREADS"], "3")

        // When ranks divide the cores, each gets cores / ranks threads.
        if one.cores >= 2 {
            let two = try dryRun(np: 2, unset: ["OPENBLAS_NUM_THREADS"])
            XCTAssertEqual(two.variables["OPENBLAS_NUM_THREADS"], String(one.cores / 2))
            XCTAssertFalse(two.command.contains("--oversubscribe"))
        }
    }

    func testBadRankCountIsRefused() throws {
        let r = try Launcher.run("/bin/bash", [Self.script, "-np", "0", "--bin", Launcher.binary, "--dry-run"], timeout: 60)
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("-np"), r.stderr)
    }

    /// A real two-rank job through the script: it exits 0 and the run records two ranks and a
    /// checkpoint at the last step.
    func testTinyJobRunsThroughTheScript() throws {
        guard Launcher.mpirun != nil else { throw XCTSkip("mpirun not found: install openmpi-bin (launch/install-deps.sh)") }
        let dir = Launcher.temporaryDirectory("local-script")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Launcher.run("/bin/bash", [Self.script, "-np", "2", "--bin", Launcher.binary, "--",
                                               "train", "--data-dir", Launcher.dataDirectory, "--model", "mlp",
                                               "--train-samples", "256", "--batch-size", "64", "--epochs", "1",
                                               "--eval-every", "0", "--probe-samples", "0", "--test-probe-samples", "0",
                                               "--out", dir + "/run"], timeout: 180)
        XCTAssertEqual(r.status, 0, "\(r.stdout)\n\(r.stderr)")
        XCTAssert(r.stderr.contains("+ OPENBLAS_NUM_THREADS="), "the script prints its command line:\n\(r.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/run/config.json"))
        let config = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual((config["ranks"] as? NSNumber)?.intValue, 2, "config.json ranks")
        XCTAssertEqual(try Launcher.finalCheckpoint(dir + "/run").globalStep, 4, "256 samples in batches of 64")
    }
}

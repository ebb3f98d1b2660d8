import Foundation
import XCTest

/// A private single-node SLURM started with launch/cluster/slurm-local.sh in a temporary
/// directory (munged, slurmctld, slurmd on 127.0.0.1, free ports). `stop()` ends it by its pid
/// files; a watcher started with it also ends it if this test process dies first.
final class SlurmCluster: @unchecked Sendable {
    let directory: String
    let conf: String
    private var stopped = false

    private init(directory: String) {
        self.directory = directory
        self.conf = directory + "/etc/slurm.conf"
    }

    static func start() throws -> SlurmCluster {
        let cluster = SlurmCluster(directory: Harness.temporaryDirectory("slurm"))
        let r = try Harness.run([Harness.script("launch/cluster/slurm-local.sh"), "start", cluster.directory,
                                 "--watch", "\(getpid())"], limit: 60)
        print("slurm-local.sh start: \(String(format: "%.2f", r.seconds)) s")
        guard r.status == 0 else {
            cluster.stop()
            XCTFail("slurm-local.sh start failed (\(r.status)):\n\(r.output)")
            throw XCTSkip("no SLURM")
        }
        return cluster
    }

    func stop() {
        guard !stopped else { return }
        stopped = true
        let r = try? Harness.run([Harness.script("launch/cluster/slurm-local.sh"), "stop", directory, "--purge"], limit: 60)
        if let r, r.status != 0 { print("slurm-local.sh stop: \(r.status)\n\(r.output)") }
    }

    var environment: [String: String] { ["SLURM_CONF": conf] }

    /// A SLURM client command (sbatch, scontrol, scancel...) under a short timeout.
    @discardableResult
    func client(_ args: [String], environment extra: [String: String] = [:], limit: Double = 20) throws -> Harness.Result {
        try Harness.run(args, environment: environment.merging(extra) { $1 }, limit: limit)
    }

    /// Submits `script` with `sbatchOptions` and the training options; returns the job id.
    func submit(_ script: String, sbatchOptions: [String], trainOptions: [String], workDirectory: String,
                environment extra: [String: String]) throws -> String {
        let r = try client(["sbatch", "--parsable", "--chdir=\(workDirectory)", "--output=\(workDirectory)/slurm-%j.out",
                            "--time=10"] + sbatchOptions + [Harness.script(script)] + trainOptions,
                           environment: extra)
        let id = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        guard r.status == 0, !id.isEmpty, id.allSatisfy(\.isNumber) else {
            XCTFail("sbatch failed (\(r.status)):\n\(r.output)")
            throw XCTSkip("sbatch failed")
        }
        return id
    }

    /// `scontrol show job -o ID` as key=value pairs (JobState, ExitCode, Restarts, Reason...).
    func job(_ id: String) throws -> [String: String] {
        let r = try client(["scontrol", "show", "job", "-o", id])
        var fields: [String: String] = [:]
        for token in r.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            guard let eq = token.firstIndex(of: "=") else { continue }
            let key = String(token[..<eq])
            if fields[key] == nil { fields[key] = String(token[token.index(after: eq)...]) }
        }
        return fields
    }

    static let finalStates: Set<String> = ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
                                           "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE"]

    /// Polls `scontrol show job` (cheaper and quicker than `sbatch -W`, which sleeps 2, 4, 8 s
    /// between its own polls) until `done` holds; returns the last fields, nil on timeout.
    func wait(_ id: String, timeout: Double, poll: Double = 0.2,
              until done: ([String: String]) throws -> Bool) throws -> [String: String]? {
        let deadline = Date().addingTimeInterval(timeout)
        var fields: [String: String] = [:]
        while Date() < deadline {
            fields = try job(id)
            if try done(fields) { return fields }
            usleep(UInt32(poll * 1e6))
        }
        print("job \(id) still \(fields["JobState"] ?? "?") after \(timeout) s")
        return nil
    }

    /// Waits for the job to reach a final state.
    func waitForEnd(_ id: String, timeout: Double) throws -> [String: String]? {
        try wait(id, timeout: timeout) { SlurmCluster.finalStates.contains($0["JobState"] ?? "") }
    }

    /// A requeued job waits ~2 minutes (reason BeginTime) before it may start again on Slurm
    /// 22.05; `scontrol update StartTime=now` lifts that.
    func startNow(_ id: String) throws {
        try client(["scontrol", "update", "JobId=\(id)", "StartTime=now"])
    }

    /// True when slurmd's spool holds nothing of job `id` any more: every slurmstepd of its
    /// previous run has exited (their sockets `<node>_<id>.<step>`, `stepd.slurm.pmix.<id>.<step>`
    /// and the batch script directory `job<id>` are gone). A step of the old run that is still
    /// finishing makes a new step of the same id fail to launch ("Cannot bind() UNIX socket
    /// .../stepd.slurm.pmix.<id>.0: Address already in use"), and srun then still exits 0.
    func previousRunGone(_ id: String) -> Bool {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory + "/state/d")) ?? []
        let jobDir = "job" + String(repeating: "0", count: max(0, 5 - id.count)) + id
        return !names.contains { $0.contains("_\(id).") || $0.contains("pmix.\(id).") || $0 == jobDir }
    }

    func logs(lines: Int = 15) -> String {
        ["slurmctld.log", "slurmd.log"].map { "--- \($0)\n" + Harness.tail(directory + "/log/" + $0, lines: lines) }
            .joined(separator: "\n")
    }
}

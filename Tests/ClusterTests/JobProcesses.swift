import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The rank processes of a job, found through /proc: dist-train processes whose command line
/// names the job's `--out`, each with the rank its launcher gave it (SLURM_PROCID under srun,
/// PMIX_RANK / OMPI_COMM_WORLD_RANK under mpirun) read from /proc/PID/environ.
enum JobProcesses {
    static func ranks(out: String) -> [Int: pid_t] {
        var found: [Int: pid_t] = [:]
        for pid in ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap({ pid_t($0) }) {
            guard let cmd = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
            let args = cmd.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let exe = args.first, exe.hasSuffix("/dist-train"),
                  let i = args.firstIndex(of: "--out"), i + 1 < args.count, args[i + 1] == out, !isGone(pid),
                  let rank = rank(pid) else { continue }
            found[rank] = pid
        }
        return found
    }

    static func rank(_ pid: pid_t) -> Int? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        var env: [String: String] = [:]
        for entry in data.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            if let eq = text.firstIndex(of: "=") { env[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
        }
        for key in ["SLURM_PROCID", "PMIX_RANK", "OMPI_COMM_WORLD_RANK"] {
            if let s = env[key], let r = Int(s) { return r }
        }
        return nil
    }

    /// No such process any more, or only its zombie.
    static func isGone(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }
}

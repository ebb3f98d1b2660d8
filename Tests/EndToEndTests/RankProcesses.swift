import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Finds the rank processes of a launch by what the launcher told each of them (its rank in
/// /proc/PID/environ), not by pid order, and tells when a process is gone.
enum RankProcesses {
    /// The environment a process was started (or last exec'd) with.
    static func environment(_ pid: pid_t) -> [String: String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return [:] }
        var env: [String: String] = [:]
        for entry in data.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let eq = text.firstIndex(of: "=") else { continue }
            env[String(text[..<eq])] = String(text[text.index(after: eq)...])
        }
        return env
    }

    /// The rank a launcher gave this process: mpirun (OMPI_COMM_WORLD_RANK), PMIx, or srun.
    static func rank(_ pid: pid_t) -> Int? {
        let env = environment(pid)
        for key in ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"] {
            if let s = env[key], let r = Int(s) { return r }
        }
        return nil
    }

    static func parent(_ pid: pid_t) -> pid_t? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? pid_t(fields[1]) : nil
    }

    /// Every descendant of `root`.
    static func descendants(of root: pid_t) -> [pid_t] {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }
        var children: [pid_t: [pid_t]] = [:]
        for pid in pids { if let p = parent(pid) { children[p, default: []].append(pid) } }
        var out: [pid_t] = [], queue = [root]
        while let next = queue.popLast() {
            for c in children[next] ?? [] { out.append(c); queue.append(c) }
        }
        return out
    }

    /// Rank → pid of the processes below `launcher` that carry a rank.
    static func ranks(under launcher: pid_t) -> [Int: pid_t] {
        var out: [Int: pid_t] = [:]
        for pid in descendants(of: launcher) { if let r = rank(pid) { out[r] = pid } }
        return out
    }

    /// No such process any more, or only its zombie.
    static func isGone(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }
}

extension RankProcesses {
    /// The signals a process has handlers for (SigCgt in /proc/PID/status; bit n-1 is signal n).
    static func caughtSignals(_ pid: pid_t) -> UInt64 {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }) else { return 0 }
        return UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16) ?? 0
    }

    /// Waits until `pid` catches every signal in `signals` (true), or it ends or time runs out.
    static func waitUntilCatching(_ pid: pid_t, _ signals: [Int32], timeout: TimeInterval) -> Bool {
        let mask = signals.reduce(UInt64(0)) { $0 | 1 << UInt64($1 - 1) }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline && !isGone(pid) {
            if caughtSignals(pid) & mask == mask { return true }
            usleep(10_000)
        }
        return false
    }
}

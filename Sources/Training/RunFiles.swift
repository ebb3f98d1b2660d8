import DataIO
import Foundation

/// The files of a run directory that rank 0 writes: `config.json`, `metrics.jsonl`,
/// `checkpoints/step-NNNNNNNN.dtck`. Every write is atomic (temp file, fsync, rename).
public struct RunFiles {
    public let directory: String
    public var configPath: String { directory + "/config.json" }
    public var metricsPath: String { directory + "/metrics.jsonl" }
    public var checkpointDirectory: String { directory + "/checkpoints" }

    public init(directory: String) { self.directory = directory }

    public func create() throws {
        try FileManager.default.createDirectory(atPath: checkpointDirectory, withIntermediateDirectories: true)
    }

    public func checkpointPath(globalStep: Int) -> String {
        let digits = String(globalStep)
        return checkpointDirectory + "/step-" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".dtck"
    }

    /// Checkpoint files, oldest first (by the step in their name).
    public func checkpoints() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpointDirectory)) ?? []
        return names.filter { $0.hasPrefix("step-") && $0.hasSuffix(".dtck") }.sorted()
            .map { checkpointDirectory + "/" + $0 }
    }

    /// The newest checkpoint that reads back intact; damaged ones are reported and skipped.
    public func newestValidCheckpoint(warn: (String) -> Void) -> (path: String, checkpoint: Checkpoint)? {
        for path in checkpoints().reversed() {
            do { return (path, try Checkpoint.read(from: path)) } catch { warn("skipping checkpoint: \(error)") }
        }
        return nil
    }

    /// Deletes all but the newest `keep` checkpoints.
    public func prune(keep: Int) {
        guard keep > 0 else { return }
        for path in checkpoints().dropLast(keep) { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Existing metrics lines written at or before global step `step` (their "step"), in
    /// file order: the lines a run resumed from a checkpoint at that step keeps. An epoch's
    /// line carries the step at its end, the same step as that epoch's checkpoint, so
    /// resuming from an end-of-epoch checkpoint keeps that epoch's line; lines written after
    /// the checkpoint (the run goes on to write them again) are dropped.
    public func metricsLines(throughStep step: Int) -> [String] {
        guard let text = try? String(contentsOfFile: metricsPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map(String.init).filter { line in
            guard let data = line.data(using: .utf8),
                  let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let s = obj["step"] as? Int else { return false }
            return s <= step
        }
    }
}

import Foundation

/// What a run directory holds, read tolerantly: the report runs while the trainer writes, so a
/// missing file is "not yet", a half-written or garbage line is skipped and counted, and
/// fields this reader does not know are ignored.
public struct RunRecords: Sendable {
    /// An overfitting alarm raised by the trainer: `kind` is "co" (catastrophic) or "ro" (robust).
    public struct Alarm: Sendable, Hashable {
        public var kind: String
        public var epoch: Int
        public var message: String
        public init(kind: String, epoch: Int, message: String) { self.kind = kind; self.epoch = epoch; self.message = message }
    }

    /// One end-of-epoch line of metrics.jsonl, numbers only.
    public struct EpochLine: Sendable {
        public var epoch: Int
        /// Top-level numbers: step, lr, seconds, samples_per_s, ranks, …
        public var values: [String: Double]
        /// Training means of the epoch: loss, clean_acc, E_x, norm_dE, aae_count, …
        public var train: [String: Double]
        /// Test evaluation (empty when the epoch was not evaluated).
        public var test: [String: Double]
        public var alarms: [Alarm]
    }

    public var directory: String
    /// config.json flattened to dotted keys (`attack.epsilon`), sorted; nil when absent.
    public var config: [(key: String, value: String)]?
    /// Why config.json could not be read, when it exists but is not a JSON object.
    public var configProblem: String?
    /// One line per epoch, ascending; a repeated epoch (a resumed run) keeps its last line.
    public var epochs: [EpochLine] = []
    /// The newest intra-epoch line, when it is newer than the last finished epoch.
    public var progress: (epoch: Int, fraction: Double)?
    /// metrics.jsonl lines that were not JSON objects with an epoch.
    public var skippedLines = 0
    public var metricsPresent = false
    /// Every alarm of every line, once, in epoch order.
    public var alarms: [Alarm] = []
    /// Epochs with an `energies/epoch-NNNN.csv` file, ascending.
    public var probeEpochs: [Int] = []

    public var configPath: String { directory + "/config.json" }
    public var metricsPath: String { directory + "/metrics.jsonl" }
    public func probePath(epoch: Int) -> String {
        let digits = String(epoch)
        return directory + "/energies/epoch-" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits + ".csv"
    }

    /// Reads what exists of the run in `directory`. Missing files leave their parts empty;
    /// `metrics: false` skips metrics.jsonl (for a reader that wants only config and probes).
    public init(directory: String, metrics: Bool = true) {
        self.directory = directory
        if let data = FileManager.default.contents(atPath: configPath) {
            if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                config = Self.flatten(object).sorted { $0.key < $1.key }
            } else {
                configProblem = "config.json is not a JSON object"
            }
        }
        if metrics, let data = FileManager.default.contents(atPath: metricsPath) {
            metricsPresent = true
            readMetrics(String(decoding: data, as: UTF8.self))
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory + "/energies")) ?? []
        probeEpochs = names.compactMap { name -> Int? in
            guard name.hasPrefix("epoch-"), name.hasSuffix(".csv") else { return nil }
            return Int(name.dropFirst(6).dropLast(4))
        }.sorted()
    }

    /// Values of `key` per epoch, from the `section` object ("train", "test") or the top level.
    public func curve(_ key: String, in section: String? = nil) -> [(x: Double, y: Double)] {
        epochs.compactMap { line in
            let table = section == "train" ? line.train : section == "test" ? line.test : line.values
            return table[key].map { (Double(line.epoch), $0) }
        }
    }

    /// The config value of a dotted key, e.g. `epochs`.
    public func configValue(_ key: String) -> String? { config?.first { $0.key == key }?.value }

    mutating func readMetrics(_ text: String) {
        var byEpoch: [Int: EpochLine] = [:]
        var seen = Set<Alarm>()
        var newestInterval: (epoch: Int, fraction: Double)?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  let epochValue = Self.number(object["epoch"]), epochValue.isFinite,
                  epochValue == epochValue.rounded(), abs(epochValue) < 1e9 else { skippedLines += 1; continue }
            let epoch = Int(epochValue)
            let alarms = (object["alarms"] as? [Any] ?? []).compactMap { Self.alarm($0, epoch: epoch) }
            for alarm in alarms where seen.insert(alarm).inserted { self.alarms.append(alarm) }
            if let flag = object["interval"], Self.isBool(flag), flag as? Bool == true {
                let fraction = Self.number(object["epoch_progress"]) ?? 0
                newestInterval = (epoch, fraction)
                continue
            }
            var values: [String: Double] = [:]
            for (key, value) in object { if let v = Self.number(value) { values[key] = v } }
            byEpoch[epoch] = EpochLine(epoch: epoch, values: values, train: Self.numbers(object["train"]),
                                       test: Self.numbers(object["test"]), alarms: alarms)
        }
        epochs = byEpoch.keys.sorted().map { byEpoch[$0]! }
        alarms.sort { ($0.epoch, $0.kind) < ($1.epoch, $1.kind) }
        if let p = newestInterval, p.epoch > (epochs.last?.epoch ?? Int.min) { progress = p }
    }

    static func alarm(_ value: Any, epoch: Int) -> Alarm? {
        guard let object = value as? [String: Any] else { return nil }
        let kind = (object["kind"] as? String) ?? "alarm"
        let at = number(object["epoch"]).flatMap { $0.isFinite && abs($0) < 1e9 ? Int($0) : nil } ?? epoch
        return Alarm(kind: kind, epoch: at, message: (object["message"] as? String) ?? "")
    }

    /// A JSON number, not a Bool: Foundation boxes both as NSNumber, and `is Bool` also holds
    /// for the numbers 0 and 1, so booleans are told apart by their C type `c` (char).
    static func number(_ value: Any?) -> Double? {
        guard let n = value as? NSNumber, !isBool(n) else { return nil }
        return n.doubleValue
    }

    static func isBool(_ value: Any) -> Bool {
        guard let n = value as? NSNumber else { return false }
        return String(cString: n.objCType) == "c"
    }

    static func numbers(_ value: Any?) -> [String: Double] {
        guard let object = value as? [String: Any] else { return [:] }
        var out: [String: Double] = [:]
        for (key, v) in object { if let d = number(v) { out[key] = d } }
        return out
    }

    /// Nested objects become dotted keys; arrays and scalars become their JSON-ish text.
    static func flatten(_ object: [String: Any], prefix: String = "") -> [(key: String, value: String)] {
        var out: [(key: String, value: String)] = []
        for (key, value) in object {
            if let nested = value as? [String: Any], !nested.isEmpty {
                out += flatten(nested, prefix: prefix + key + ".")
            } else {
                out.append((prefix + key, text(value)))
            }
        }
        return out
    }

    static func text(_ value: Any) -> String {
        if isBool(value), let b = value as? Bool { return b ? "true" : "false" }
        if let d = number(value) { return formatNumber(d) }
        if let s = value as? String { return s }
        if value is NSNull { return "null" }
        if let array = value as? [Any] { return "[" + array.map(text).joined(separator: ", ") + "]" }
        if let object = value as? [String: Any] { return object.isEmpty ? "{}" : "{…}" }
        return String(describing: value)
    }

    /// Whole numbers without `.0`; others exactly as written by the trainer.
    static func formatNumber(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : SVG.exact(d)
    }
}

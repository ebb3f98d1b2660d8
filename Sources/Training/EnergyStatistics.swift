import Adversarial
import Foundation
import Distributed

/// Energy statistics over the samples a rank saw, summed over ranks with one allreduce
/// of a single double-precision buffer, so they do not depend on the number of ranks.
///
/// For every quantity: count, sum and sum of squares (→ mean and standard deviation), in
/// three groups: all samples, and those whose adversarial example x* is classified
/// correctly or wrongly. Fixed-bin histograms of ΔE(x), ΔE(x,y) and ‖ΔE‖ per group, with
/// an underflow and an overflow bin, so bin counts simply add up across ranks.
public struct EnergyStatistics: Sendable, Equatable {
    public enum Quantity: Int, CaseIterable, Sendable {
        case energyClean, energyAdv, jointClean, jointAdv, deltaEnergy, deltaJoint
        case absDeltaEnergy, absDeltaJoint, deltaNorm, der, ceClean, ceAdv

        /// The key in metrics.jsonl (and TensorBoard).
        public var key: String {
            switch self {
            case .energyClean: "E_x"
            case .energyAdv: "E_xadv"
            case .jointClean: "E_xy"
            case .jointAdv: "E_xadv_y"
            case .deltaEnergy: "dE_x"
            case .deltaJoint: "dE_xy"
            case .absDeltaEnergy: "abs_dE_x"
            case .absDeltaJoint: "abs_dE_xy"
            case .deltaNorm: "norm_dE"
            case .der: "der"
            case .ceClean: "ce_clean"
            case .ceAdv: "ce_adv"
            }
        }
    }

    /// Per-sample counters.
    public enum Counter: Int, CaseIterable, Sendable {
        case count, loss, correctClean, correctAdv, aae
    }

    /// Samples are grouped by whether the model classifies x* correctly.
    public enum Group: Int, CaseIterable, Sendable {
        case all, correct, wrong
        public var key: String { ["all", "correct", "wrong"][rawValue] }
    }

    /// Histogrammed quantities and their fixed bin edges (bins + 1 edges; values below the
    /// first edge or at/above the last go to the under- and overflow bins).
    public static let histogrammed: [(Quantity, [Double])] = [
        (.deltaEnergy, edges(-20, 20, 80)), (.deltaJoint, edges(-20, 20, 80)), (.deltaNorm, edges(0, 40, 80)),
    ]
    static func edges(_ low: Double, _ high: Double, _ bins: Int) -> [Double] {
        (0...bins).map { low + (high - low) * Double($0) / Double(bins) }
    }

    static let perGroup = Counter.allCases.count + 2 * Quantity.allCases.count
    /// Offset of each histogram within a group's histogram block, and the block's size.
    static let histogramOffsets: [Int] = histogrammed.indices.map { h in histogrammed.prefix(h).reduce(0) { $0 + $1.1.count + 1 } }
    static let histogramSize = histogrammed.reduce(0) { $0 + $1.1.count + 1 }
    public static let size = Group.allCases.count * (perGroup + histogramSize)

    /// Counters, then (sum, sum of squares) per quantity, per group; then the histograms.
    public private(set) var buffer = [Double](repeating: 0, count: EnergyStatistics.size)

    public init() {}

    /// The key of a mid-epoch checkpoint's `extra` that holds the epoch's statistics so far.
    public static let checkpointKey = "epoch_statistics"

    /// The sums as JSON (shortest round-trip doubles, so they restore exactly), for a mid-epoch
    /// checkpoint; nil if a value is not finite (JSON has no NaN).
    public var stateJSON: String? {
        guard buffer.allSatisfy(\.isFinite), let data = try? JSONEncoder().encode(buffer) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Statistics written by `stateJSON`.
    public init(stateJSON text: String) throws {
        let values = try JSONDecoder().decode([Double].self, from: Data(text.utf8))
        guard values.count == Self.size else {
            throw DecodingError.dataCorrupted(.init(codingPath: [],
                debugDescription: "\(values.count) values, expected \(Self.size)"))
        }
        buffer = values
    }

    private static func base(_ g: Group) -> Int { g.rawValue * perGroup }
    private static func histogramBase(_ g: Group, _ h: Int) -> Int {
        Group.allCases.count * perGroup + g.rawValue * histogramSize + histogramOffsets[h]
    }

    public func counter(_ c: Counter, _ g: Group = .all) -> Double { buffer[Self.base(g) + c.rawValue] }
    public func sum(_ q: Quantity, _ g: Group = .all) -> Double {
        buffer[Self.base(g) + Counter.allCases.count + 2 * q.rawValue]
    }
    public func mean(_ q: Quantity, _ g: Group = .all) -> Double { sum(q, g) / max(counter(.count, g), 1) }
    /// Population standard deviation.
    public func standardDeviation(_ q: Quantity, _ g: Group = .all) -> Double {
        let n = max(counter(.count, g), 1)
        let m = sum(q, g) / n
        let sq = buffer[Self.base(g) + Counter.allCases.count + 2 * q.rawValue + 1] / n
        return max(sq - m * m, 0).squareRoot()
    }
    public func sumOfSquares(_ q: Quantity, _ g: Group = .all) -> Double {
        buffer[Self.base(g) + Counter.allCases.count + 2 * q.rawValue + 1]
    }
    /// Bin counts of histogram `h` (index into `histogrammed`): underflow, bins…, overflow.
    public func histogram(_ h: Int, _ g: Group = .all) -> [Double] {
        let start = Self.histogramBase(g, h)
        return Array(buffer[start..<(start + Self.histogrammed[h].1.count + 1)])
    }

    /// Adds the per-sample results of the objective's last `compute` (or `computeClean`).
    /// `loss` is the batch's unscaled loss sum.
    public mutating func accumulate(_ o: EnergyObjective, labels: [Int32], loss: Double) {
        buffer[Self.base(.all) + Counter.loss.rawValue] += loss
        var values = [Double](repeating: 0, count: Quantity.allCases.count)
        for i in 0..<o.count {
            let eC = Double(o.energyClean.pointer[i]), eA = Double(o.energyAdv.pointer[i])
            let jC = Double(o.jointClean.pointer[i]), jA = Double(o.jointAdv.pointer[i])
            values[Quantity.energyClean.rawValue] = eC
            values[Quantity.energyAdv.rawValue] = eA
            values[Quantity.jointClean.rawValue] = jC
            values[Quantity.jointAdv.rawValue] = jA
            values[Quantity.deltaEnergy.rawValue] = eC - eA
            values[Quantity.deltaJoint.rawValue] = jC - jA
            values[Quantity.absDeltaEnergy.rawValue] = abs(eC - eA)
            values[Quantity.absDeltaJoint.rawValue] = abs(jC - jA)
            values[Quantity.deltaNorm.rawValue] = ((eC - eA) * (eC - eA) + (jC - jA) * (jC - jA)).squareRoot()
            values[Quantity.der.rawValue] = Double(o.der.pointer[i])
            values[Quantity.ceClean.rawValue] = Double(o.ceClean.pointer[i])
            values[Quantity.ceAdv.rawValue] = Double(o.ceAdv.pointer[i])
            let y = Float(labels[i])
            let cleanOK = o.predictedClean.pointer[i] == y, advOK = o.predictedAdv.pointer[i] == y
            add(.all, values, cleanOK: cleanOK, advOK: advOK, aae: o.aae.pointer[i] > 0)
            add(advOK ? .correct : .wrong, values, cleanOK: cleanOK, advOK: advOK, aae: o.aae.pointer[i] > 0)
        }
    }

    private mutating func add(_ g: Group, _ values: [Double], cleanOK: Bool, advOK: Bool, aae: Bool) {
        let b = Self.base(g)
        buffer[b + Counter.count.rawValue] += 1
        if cleanOK { buffer[b + Counter.correctClean.rawValue] += 1 }
        if advOK { buffer[b + Counter.correctAdv.rawValue] += 1 }
        if aae { buffer[b + Counter.aae.rawValue] += 1 }
        let q0 = b + Counter.allCases.count
        for (j, v) in values.enumerated() {
            buffer[q0 + 2 * j] += v
            buffer[q0 + 2 * j + 1] += v * v
        }
        for (h, (q, edges)) in Self.histogrammed.enumerated() {
            buffer[Self.histogramBase(g, h) + Self.bin(values[q.rawValue], edges)] += 1
        }
    }

    /// 0 for underflow, 1…bins for the bins, bins + 1 for overflow (NaN counts as overflow).
    public static func bin(_ v: Double, _ edges: [Double]) -> Int {
        let bins = edges.count - 1
        guard v >= edges[0] else { return v.isNaN ? bins + 1 : 0 }
        let f = (v - edges[0]) / (edges[bins] - edges[0]) * Double(bins)
        return f >= Double(bins) || f.isNaN ? bins + 1 : Int(f) + 1
    }

    public mutating func reduce(_ comm: any Communicator) throws { try comm.allreduceSum(&buffer) }

    /// Means per sample (accuracies as fractions), standard deviations (`<key>_std`), the
    /// AAE count and rate, for one group.
    public func summary(_ g: Group = .all, includeLoss: Bool = true) -> [(String, Double)] {
        let n = max(counter(.count, g), 1)
        var out: [(String, Double)] = [("samples", counter(.count, g))]
        if includeLoss && g == .all { out.append(("loss", counter(.loss) / n)) }
        out.append(("clean_acc", counter(.correctClean, g) / n))
        out.append(("adv_acc", counter(.correctAdv, g) / n))
        out.append(("aae_count", counter(.aae, g)))
        out.append(("aae_rate", counter(.aae, g) / n))
        for q in Quantity.allCases { out.append((q.key, mean(q, g))) }
        for q in Quantity.allCases { out.append((q.key + "_std", standardDeviation(q, g))) }
        return out
    }

    /// The metrics.jsonl object: the summary of all samples, with `correct` and `wrong`
    /// sub-objects and the histograms (`hist`: edges and counts per group).
    public var json: JSONValue {
        var pairs = summary().map { ($0.0, JSONValue.number($0.1)) }
        for g in [Group.correct, .wrong] {
            pairs.append((g.key, .object(summary(g, includeLoss: false).map { ($0.0, .number($0.1)) })))
        }
        var hist: [(String, JSONValue)] = []
        for (h, (q, edges)) in Self.histogrammed.enumerated() {
            var entry: [(String, JSONValue)] = [("edges", .array(edges.map { .number($0) }))]
            for g in Group.allCases { entry.append((g.key, .array(histogram(h, g).map { .number($0) }))) }
            hist.append((q.key, .object(entry)))
        }
        pairs.append(("hist", .object(hist)))
        return .object(pairs)
    }
}

import Foundation

/// One probe sample's energies at one epoch: a row of `energies/epoch-NNNN.csv`.
public struct ProbeSample: Sendable, Equatable {
    /// "train" or "test".
    public var split: String
    public var index: Int
    public var label: Int?
    public var predictedClean: Int?
    public var predictedAdv: Int?
    /// E(x), E(x,y), E(x*), E(x*,y).
    public var energy: Double, joint: Double, energyAdv: Double, jointAdv: Double
    public var ceClean: Double?, ceAdv: Double?, ceRef: Double?
    /// Abnormal adversarial example: the perturbation lowered this sample's loss.
    public var aae: Bool

    /// The quiver arrow from the clean to the adversarial energies.
    public var arrow: QuiverPlot.Arrow {
        QuiverPlot.Arrow(id: index, from: (energy, joint), to: (energyAdv, jointAdv))
    }
}

/// A probe CSV, parsed by column name so added or reordered columns do not break it.
public struct ProbeTable: Sendable {
    public var epoch: Int
    public var samples: [ProbeSample]
    /// Rows that could not be read (wrong field count, unreadable number): skipped, counted.
    public var skippedRows: Int
    /// Why no row could be read at all (empty file, header without the energy columns).
    public var problem: String?

    static let required = ["split", "index", "E_x", "E_xy", "E_xadv", "E_xadv_y"]

    public static func parse(csv text: String, epoch: Int) -> ProbeTable {
        var table = ProbeTable(epoch: epoch, samples: [], skippedRows: 0, problem: nil)
        var lines = text.split(whereSeparator: \.isNewline).lazy
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.makeIterator()
        guard let header = lines.next() else { table.problem = "empty file"; return table }
        let names = header.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        var column: [String: Int] = [:]
        for (i, name) in names.enumerated() where column[name] == nil { column[name] = i }
        let missing = required.filter { column[$0] == nil }
        guard missing.isEmpty else {
            table.problem = "header lacks " + missing.joined(separator: ", ")
            return table
        }
        while let line = lines.next() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            if let sample = sample(fields, column: column, width: names.count) {
                table.samples.append(sample)
            } else {
                table.skippedRows += 1
            }
        }
        return table
    }

    static func sample(_ f: [String], column: [String: Int], width: Int) -> ProbeSample? {
        guard f.count == width else { return nil }
        func field(_ name: String) -> String? { column[name].map { f[$0] } }
        func real(_ name: String) -> Double? { field(name).flatMap(Double.init) }
        func int(_ name: String) -> Int? { field(name).flatMap { Int($0) } }
        guard let split = field("split"), !split.isEmpty, let index = int("index"),
              let e = real("E_x"), let ey = real("E_xy"), let ea = real("E_xadv"), let eay = real("E_xadv_y")
        else { return nil }
        let aaeText = field("aae")?.lowercased() ?? "0"
        guard ["0", "1", "true", "false", ""].contains(aaeText) else { return nil }
        return ProbeSample(split: split, index: index, label: int("label"), predictedClean: int("pred_clean"),
                           predictedAdv: int("pred_adv"), energy: e, joint: ey, energyAdv: ea, jointAdv: eay,
                           ceClean: real("ce_clean"), ceAdv: real("ce_adv"), ceRef: real("ce_ref"),
                           aae: aaeText == "1" || aaeText == "true")
    }

    /// Arrows of one split, optionally only its abnormal adversarial examples.
    public func arrows(split: String = "train", aaeOnly: Bool = false) -> [QuiverPlot.Arrow] {
        samples.filter { $0.split == split && (!aaeOnly || $0.aae) }.map(\.arrow)
    }
}

extension RunRecords {
    /// The probe table of `epoch`, or nil when its file does not exist (yet).
    public func probes(epoch: Int) -> ProbeTable? {
        guard let data = FileManager.default.contents(atPath: probePath(epoch: epoch)) else { return nil }
        return ProbeTable.parse(csv: String(decoding: data, as: UTF8.self), epoch: epoch)
    }
}

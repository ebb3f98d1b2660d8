import Adversarial
import Distributed

/// Energy and accuracy sums over the samples a rank saw, kept in double precision and
/// summed over ranks with one allreduce, so the means do not depend on the rank count.
public struct EpochStatistics: Sendable {
    public enum Field: Int, CaseIterable, Sendable {
        case count, loss, correctClean, correctAdv, aae
        case energyClean, energyAdv, jointClean, jointAdv
        case deltaEnergy, deltaJoint, deltaNorm, der, ceClean, ceAdv

        /// The key in metrics.jsonl.
        public var key: String {
            switch self {
            case .count: "samples"
            case .loss: "loss"
            case .correctClean: "clean_acc"
            case .correctAdv: "adv_acc"
            case .aae: "aae_count"
            case .energyClean: "E_x"
            case .energyAdv: "E_xadv"
            case .jointClean: "E_xy"
            case .jointAdv: "E_xadv_y"
            case .deltaEnergy: "abs_dE_x"
            case .deltaJoint: "abs_dE_xy"
            case .deltaNorm: "norm_dE"
            case .der: "der"
            case .ceClean: "ce_clean"
            case .ceAdv: "ce_adv"
            }
        }
    }

    public private(set) var sums = [Double](repeating: 0, count: Field.allCases.count)

    public init() {}

    public subscript(_ f: Field) -> Double { sums[f.rawValue] }

    /// Adds the per-sample results of the objective's last `compute`.
    public mutating func accumulate(_ o: EnergyObjective, labels: [Int32], loss: Double) {
        let n = o.count
        sums[Field.count.rawValue] += Double(n)
        sums[Field.loss.rawValue] += loss
        for i in 0..<n {
            let eC = Double(o.energyClean.pointer[i]), eA = Double(o.energyAdv.pointer[i])
            let jC = Double(o.jointClean.pointer[i]), jA = Double(o.jointAdv.pointer[i])
            let y = Float(labels[i])
            add(.correctClean, o.predictedClean.pointer[i] == y ? 1 : 0)
            add(.correctAdv, o.predictedAdv.pointer[i] == y ? 1 : 0)
            add(.aae, Double(o.aae.pointer[i]))
            add(.energyClean, eC); add(.energyAdv, eA); add(.jointClean, jC); add(.jointAdv, jA)
            add(.deltaEnergy, abs(eC - eA)); add(.deltaJoint, abs(jC - jA))
            add(.deltaNorm, ((eC - eA) * (eC - eA) + (jC - jA) * (jC - jA)).squareRoot())
            add(.der, Double(o.der.pointer[i]))
            add(.ceClean, Double(o.ceClean.pointer[i])); add(.ceAdv, Double(o.ceAdv.pointer[i]))
        }
    }

    @inline(__always) private mutating func add(_ f: Field, _ v: Double) { sums[f.rawValue] += v }

    public mutating func reduce(_ comm: any Communicator) throws { try comm.allreduceSum(&sums) }

    /// Means per sample (accuracies as fractions), plus the AAE count and rate.
    public var summary: [(String, Double)] {
        let n = max(self[.count], 1)
        var out: [(String, Double)] = [("samples", self[.count])]
        for f in Field.allCases where f != .count && f != .aae { out.append((f.key, self[f] / n)) }
        out.append(("aae_count", self[.aae]))
        out.append(("aae_rate", self[.aae] / n))
        return out
    }
}

import Foundation

/// Detects catastrophic overfitting (CO) and robust overfitting (RO) from each epoch's
/// aggregated numbers. Every rank feeds it the same allreduced values, so every rank
/// raises the same alarms at the same epoch.
public struct Alarms: Sendable {
    public enum Kind: String, Sendable, Codable { case co, ro }

    public struct Alarm: Sendable, Equatable, Codable {
        public var kind: Kind
        public var epoch: Int
        public var message: String
        public init(kind: Kind, epoch: Int, message: String) { self.kind = kind; self.epoch = epoch; self.message = message }
    }

    public let thresholds: AlarmThresholds
    /// AAE rates of earlier epochs (training set).
    private(set) var aaeRates: [Double] = []
    private(set) var previousPGD: Double?
    /// Best test PGD accuracy so far, and the training adversarial accuracy at that epoch.
    public private(set) var best: (epoch: Int, pgd: Double, trainAdv: Double)?
    public private(set) var raised: [Alarm] = []

    /// An AAE rate below this counts as this for the running median, so a jump from 0 to a
    /// handful of samples is not a "factor" jump.
    public static let rateFloor = 0.001

    public init(thresholds: AlarmThresholds) { self.thresholds = thresholds }

    /// Feeds one epoch (1-based) and returns the alarms it raises. Test accuracies are nil
    /// when there was no evaluation this epoch.
    public mutating func update(epoch: Int, trainAAERate: Double, trainAdvAcc: Double,
                                testFGSM: Double?, testPGD: Double?) -> [Alarm] {
        var out: [Alarm] = []
        func pct(_ v: Double) -> String { String(format: "%.1f", 100 * v) }
        if let fgsm = testFGSM, let pgd = testPGD, fgsm - pgd > thresholds.coGap {
            out.append(Alarm(kind: .co, epoch: epoch, message:
                "test FGSM accuracy \(pct(fgsm))% exceeds PGD accuracy \(pct(pgd))% by more than \(pct(thresholds.coGap)) points"))
        }
        if let pgd = testPGD, let prev = previousPGD, prev - pgd > thresholds.coDrop {
            out.append(Alarm(kind: .co, epoch: epoch, message:
                "test PGD accuracy fell from \(pct(prev))% to \(pct(pgd))% in one epoch (threshold \(pct(thresholds.coDrop)) points)"))
        }
        if aaeRates.count >= 2 {
            let median = max(Self.median(aaeRates), Self.rateFloor)
            if trainAAERate > thresholds.coAAEFactor * median {
                out.append(Alarm(kind: .co, epoch: epoch, message:
                    "training AAE rate \(pct(trainAAERate))% is over \(Int(thresholds.coAAEFactor))× its running median \(pct(median))%"))
            }
        }
        // A CO alarm explains a PGD drop better than robust overfitting: one diagnosis per epoch.
        if out.isEmpty, let pgd = testPGD, let b = best, pgd < b.pgd - thresholds.roDrop, trainAdvAcc > b.trainAdv {
            out.append(Alarm(kind: .ro, epoch: epoch, message:
                "test PGD accuracy \(pct(pgd))% is \(pct(b.pgd - pgd)) points below its best \(pct(b.pgd))% (epoch \(b.epoch)) " +
                "while training adversarial accuracy rose from \(pct(b.trainAdv))% to \(pct(trainAdvAcc))%"))
        }
        aaeRates.append(trainAAERate)
        if let pgd = testPGD {
            previousPGD = pgd
            if best == nil || pgd > best!.pgd { best = (epoch, pgd, trainAdvAcc) }
        }
        raised += out
        return out
    }

    /// True when `pgd` (this epoch's test PGD accuracy) is the best so far — after `update`.
    public func isBest(epoch: Int) -> Bool { best?.epoch == epoch }

    /// Whether `--stop-on condition` ends the run after an epoch that raised `raised`.
    public static func shouldStop(_ raised: [Alarm], on condition: StopCondition) -> Bool {
        raised.contains { $0.kind.rawValue == condition.rawValue }
    }

    // MARK: state carried through checkpoints

    /// The key of the alarm state in a checkpoint's `extra` dictionary.
    public static let checkpointKey = "alarms"

    /// What the rules remember of earlier epochs. A resumed run restores it, so it raises the
    /// alarms an uninterrupted run raises and keeps best.dtck at the true best epoch.
    struct State: Codable, Equatable {
        struct Best: Codable, Equatable { var epoch: Int; var pgd: Double; var trainAdv: Double }
        var aaeRates: [Double]
        var previousPGD: Double?
        var best: Best?
        var raised: [Alarm]
    }

    /// The state as JSON, for a checkpoint's `extra`. Doubles are written as their shortest
    /// round-trip decimal, so a restored state compares exactly like the original.
    public var stateJSON: String {
        let state = State(aaeRates: aaeRates, previousPGD: previousPGD,
                          best: best.map { State.Best(epoch: $0.epoch, pgd: $0.pgd, trainAdv: $0.trainAdv) }, raised: raised)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Strings, integers and finite doubles (rates and accuracies) always encode.
        return String(decoding: (try? encoder.encode(state)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// Replaces the state with one written by `stateJSON` (thresholds stay this run's).
    public mutating func restore(stateJSON text: String) throws {
        let state = try JSONDecoder().decode(State.self, from: Data(text.utf8))
        aaeRates = state.aaeRates
        previousPGD = state.previousPGD
        best = state.best.map { ($0.epoch, $0.pgd, $0.trainAdv) }
        raised = state.raised
    }

    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}


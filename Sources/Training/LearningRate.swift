/// Learning-rate schedules, as a function of fractional epoch t ∈ [0, epochs].
public enum LearningRateSchedule: String, CaseIterable, Sendable, Codable {
    /// One triangle: 0 → peak at 2/5 of training → 0 at the end (Wong et al. 2020).
    case cyclic
    /// Peak, then ×0.1 at 50% and again at 75% of training (Rice et al. 2020).
    case piecewise
    case constant

    public func rate(peak: Float, epoch t: Double, epochs: Int) -> Float {
        let total = Double(max(epochs, 1))
        switch self {
        case .constant: return peak
        case .piecewise:
            if t < 0.5 * total { return peak }
            if t < 0.75 * total { return peak * 0.1 }
            return peak * 0.01
        case .cyclic:
            let top = 0.4 * total
            let f = t <= top ? t / top : max(0, (total - t) / (total - top))
            return Float(Double(peak) * f)
        }
    }
}

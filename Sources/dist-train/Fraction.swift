import ArgumentParser

/// A number given as a decimal ("0.03") or a fraction ("8/255"), as papers quote ε.
struct Fraction: ExpressibleByArgument, Sendable {
    var value: Float

    init(_ value: Float) { self.value = value }

    init?(argument: String) {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 1, let v = Float(argument), v.isFinite {
            value = v
        } else if parts.count == 2, let n = Float(parts[0]), let d = Float(parts[1]), d != 0, (n / d).isFinite {
            value = n / d
        } else {
            return nil
        }
    }

    var defaultValueDescription: String { "\(value)" }
}

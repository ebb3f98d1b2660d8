/// Counter-based randomness: a stream is a pure function of a seed and a tuple of keys
/// (for example seed, purpose, epoch, sample index, restart), so a sample gets the same
/// noise whichever rank holds it and however the batch was split. SplitMix64 mixing.
public struct KeyedRandom: Sendable {
    private var state: UInt64

    public init(seed: UInt64, keys: UInt64...) {
        var h = KeyedRandom.mix(seed &+ 0x9E37_79B9_7F4A_7C15)
        for k in keys { h = KeyedRandom.mix(h ^ KeyedRandom.mix(k &+ 0xD1B5_4A32_D192_ED03)) }
        state = h
    }

    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The state `next()` advances: the n-th next() mixes state + n·0x9E3779B97F4A7C15
    /// (`dtk_uniform_start` draws the same stream in C).
    public var counter: UInt64 { state }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return KeyedRandom.mix(state)
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inline(__always)
    public mutating func nextFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform in [-bound, bound).
    @inline(__always)
    public mutating func uniform(_ bound: Float) -> Float { (2 * nextFloat() - 1) * bound }

    /// Uniform integer in 0..<n (n > 0), by rejection so every value is equally likely.
    public mutating func below(_ n: Int) -> Int {
        precondition(n > 0)
        let un = UInt64(n)
        let limit = UInt64.max - UInt64.max % un
        while true {
            let r = next()
            if r < limit { return Int(r % un) }
        }
    }

    /// A permutation of 0..<n (Fisher–Yates), the same on every rank for the same keys.
    public static func permutation(_ n: Int, seed: UInt64, keys: UInt64...) -> [Int] {
        var rng = KeyedRandom(seed: seed)
        for k in keys { rng = KeyedRandom(seed: rng.next() ^ k) }
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, rng.below(i + 1)) }
        return p
    }
}

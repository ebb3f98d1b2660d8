extension Checkpoint {
    /// The `extra` key under which a checkpoint records the digest of its `configJSON`.
    public static let configDigestKey = "config_digest"

    /// FNV-1a (64-bit) of the configuration text, as 16 hex digits. The trainer stores it in
    /// `extra[configDigestKey]`; `decode` checks it, so a header whose configuration was edited
    /// (the CRC recomputed, or a writer bug) is refused instead of resumed under a
    /// configuration that is not the one that trained the parameters.
    public static func configDigest(of text: String) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

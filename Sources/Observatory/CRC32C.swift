/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum TFRecord framing uses.
///
/// Table-driven, one byte at a time: event files are small, so the simple loop is fast enough
/// and easy to check against the published vectors.
public enum CRC32C {
    /// Lookup table: the CRC of each possible byte value, computed once.
    private static let table: [UInt32] = (0..<256).map { byte in
        var crc = UInt32(byte)
        for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    /// The CRC-32C of `bytes`; `update(0, bytes)` continued over chunks gives the same result.
    public static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        update(0, bytes)
    }

    /// Extends a finished CRC-32C `crc` with more bytes (pre- and post-inversion handled here).
    public static func update<Bytes: Sequence>(_ crc: UInt32, _ bytes: Bytes) -> UInt32
    where Bytes.Element == UInt8 {
        var state = ~crc
        for byte in bytes {
            state = table[Int((state ^ UInt32(byte)) & 0xFF)] ^ (state >> 8)
        }
        return ~state
    }

    /// TensorFlow's masking: storing the CRC of data that itself holds CRCs would make the
    /// checksum of a checksum trivially predictable, so the stored value is rotated and offset.
    public static func masked(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    /// `masked(checksum(bytes))`, the value a TFRecord stores.
    public static func maskedChecksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        masked(checksum(bytes))
    }
}

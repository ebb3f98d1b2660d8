/// The few protobuf wire-format encodings an event file needs, written by hand so the package
/// carries no generated code or protoc step for three small messages.
///
/// Fields are appended in call order, and every call emits its field even for default values
/// (proto3 readers accept explicit zeros); callers skip fields they mean to leave unset.
struct ProtobufWriter {
    /// Wire types of the protobuf encoding.
    enum WireType: UInt8 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    private(set) var bytes: [UInt8] = []

    init() {}

    /// Base-128 varint: 7 bits a byte, least significant group first, high bit = "more follows".
    mutating func varint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    mutating func key(_ field: Int, _ type: WireType) {
        precondition(field > 0 && field < 1 << 29, "protobuf field number out of range: \(field)")
        varint(UInt64(field) << 3 | UInt64(type.rawValue))
    }

    /// int64 field: negative values take ten bytes (two's complement), as protobuf specifies.
    mutating func int64(_ field: Int, _ value: Int64) {
        key(field, .varint)
        varint(UInt64(bitPattern: value))
    }

    mutating func double(_ field: Int, _ value: Double) {
        key(field, .fixed64)
        appendLittleEndian(value.bitPattern)
    }

    mutating func float(_ field: Int, _ value: Float) {
        key(field, .fixed32)
        appendLittleEndian(value.bitPattern)
    }

    /// Length-delimited field: a bytes value, or the encoding of a sub-message.
    mutating func lengthDelimited(_ field: Int, _ value: [UInt8]) {
        key(field, .lengthDelimited)
        varint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ field: Int, _ value: String) {
        lengthDelimited(field, Array(value.utf8))
    }

    /// A sub-message, built by `body` in its own writer so its length is known before it is written.
    mutating func message(_ field: Int, _ body: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        body(&inner)
        lengthDelimited(field, inner.bytes)
    }

    /// Packed repeated double: one length-delimited field holding the values back to back.
    /// An empty list writes nothing, as protobuf does for empty packed fields.
    mutating func packedDoubles(_ field: Int, _ values: [Double]) {
        guard !values.isEmpty else { return }
        key(field, .lengthDelimited)
        varint(UInt64(values.count * 8))
        for value in values { appendLittleEndian(value.bitPattern) }
    }

    private mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }
}

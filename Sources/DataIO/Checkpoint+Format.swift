import CZlib
import Foundation

#if !_endian(little)
#error("Checkpoint stores Float32 little-endian by memcpy; a big-endian host needs byte swapping here")
#endif

extension Checkpoint {
    /// "DISTTRCK": identifies the file type at a glance (`head -c 8`).
    public static let magic: [UInt8] = Array("DISTTRCK".utf8)
    /// The format version this build writes and reads.
    public static let formatVersion: UInt32 = 1

    /// Fixed part before the header: magic, version, header length.
    static let prefixLength = 16

    /// The JSON header: small, self-describing, and easy to inspect with `dd | jq`.
    struct Header: Codable {
        var configJSON: String
        var epoch: Int
        var stepInEpoch: Int
        var globalStep: Int
        var parameterCount: Int
        var extra: [String: String]
    }

    /// The binary form, version 1. Integers and floats are little-endian.
    /// ```
    /// offset       size   content
    /// 0            8      magic "DISTTRCK"
    /// 8            4      format version, UInt32 (= 1)
    /// 12           4      header length H, UInt32
    /// 16           H      header, UTF-8 JSON: {"configJSON", "epoch", "stepInEpoch",
    ///                     "globalStep", "parameterCount" (P), "extra"}
    /// 16+H         4P     parameters, Float32
    /// 16+H+4P      4P     momentum, Float32
    /// 16+H+8P      4      CRC-32 (zlib) of all preceding bytes, UInt32
    /// ```
    /// The metadata is JSON so it can grow without a version bump; the tensors are raw so a
    /// large model saves and loads at memory speed; the CRC catches damage anywhere.
    /// `momentum.count` must equal `parameters.count` (a programming error otherwise).
    public func encoded() -> [UInt8] {
        precondition(momentum.count == parameters.count,
                     "momentum has \(momentum.count) values but parameters have \(parameters.count)")
        let header = Header(configJSON: configJSON, epoch: epoch, stepInEpoch: stepInEpoch,
                            globalStep: globalStep, parameterCount: parameters.count, extra: extra)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let json: [UInt8]
        do { json = Array(try encoder.encode(header)) } catch {
            preconditionFailure("JSON encoding of strings and integers cannot fail: \(error)")
        }
        precondition(json.count <= Int(UInt32.max), "checkpoint header over 4 GiB")

        var out: [UInt8] = []
        out.reserveCapacity(Self.prefixLength + json.count + 8 * parameters.count + 4)
        out += Self.magic
        appendLE(Self.formatVersion, to: &out)
        appendLE(UInt32(json.count), to: &out)
        out += json
        parameters.withUnsafeBytes { out.append(contentsOf: $0) }
        momentum.withUnsafeBytes { out.append(contentsOf: $0) }
        appendLE(crc32Of(out[...]), to: &out)
        return out
    }

    /// Parses and validates `bytes`; `file` names the source in errors. Every length and offset
    /// is checked against the data before use, so any input yields a checkpoint or an error.
    public static func decode(_ bytes: [UInt8], file: String) throws(CheckpointError) -> Checkpoint {
        let count = bytes.count
        let magicSeen = Array(bytes.prefix(magic.count))
        guard magicSeen == Array(magic.prefix(magicSeen.count)) else { throw .badMagic(file: file, found: magicSeen) }
        guard count >= prefixLength + 4 else { throw .truncated(file: file, expected: prefixLength + 4, found: count) }
        let version = readLE(bytes, at: 8)
        guard version == formatVersion else {
            throw .unsupportedVersion(file: file, version: version, supported: formatVersion)
        }
        let headerLength = Int(readLE(bytes, at: 12))
        let headerEnd = prefixLength + headerLength
        guard headerEnd + 4 <= count else { throw .truncated(file: file, expected: headerEnd + 4, found: count) }

        // Damage is the likelier cause of an unreadable header: report it as such when the CRC says so.
        func checksumError() -> CheckpointError? {
            let stored = readLE(bytes, at: count - 4)
            let computed = crc32Of(bytes[0..<(count - 4)])
            return stored == computed ? nil : .checksumMismatch(file: file, stored: stored, computed: computed)
        }
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes[prefixLength..<headerEnd]))
        } catch {
            throw checksumError() ?? .badHeader(file: file, reason: "unreadable JSON (\(describe(error)))")
        }

        let p = header.parameterCount
        guard p >= 0 else {
            throw checksumError() ?? .badHeader(file: file, reason: "negative parameterCount \(p)")
        }
        let available = count - headerEnd - 4   // bytes for the two tensors, >= 0 here
        if p > available / 8 {
            throw .truncated(file: file, expected: headerEnd + 4 + 8 * min(p, Int.max / 16), found: count)
        }
        if 8 * p < available { throw .trailingBytes(file: file, expected: headerEnd + 4 + 8 * p, found: count) }
        if let damage = checksumError() { throw damage }

        guard header.epoch >= 0, header.stepInEpoch >= 0, header.globalStep >= 0 else {
            throw .badHeader(file: file, reason: "negative position (epoch \(header.epoch), "
                + "stepInEpoch \(header.stepInEpoch), globalStep \(header.globalStep))")
        }
        if let stored = header.extra[configDigestKey] {
            let computed = configDigest(of: header.configJSON)
            guard stored == computed else { throw .configDigestMismatch(file: file, stored: stored, computed: computed) }
        }
        return Checkpoint(configJSON: header.configJSON, epoch: header.epoch, stepInEpoch: header.stepInEpoch,
                          globalStep: header.globalStep,
                          parameters: floats(bytes, at: headerEnd, count: p),
                          momentum: floats(bytes, at: headerEnd + 4 * p, count: p),
                          extra: header.extra)
    }
}

/// `count` Float32 values copied from `bytes[offset...]`; the caller has checked the range.
private func floats(_ bytes: [UInt8], at offset: Int, count: Int) -> [Float] {
    precondition(offset >= 0 && count >= 0 && offset + 4 * count <= bytes.count)
    return [Float](unsafeUninitializedCapacity: count) { (buffer, initialized) in
        if count > 0 {
            bytes.withUnsafeBytes { raw in
                _ = memcpy(buffer.baseAddress!, raw.baseAddress! + offset, 4 * count)
            }
        }
        initialized = count
    }
}

/// zlib CRC-32, fed in chunks because its length argument is 32-bit.
func crc32Of(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var crc = crc32(0, nil, 0)
    bytes.withUnsafeBufferPointer { buffer in
        var offset = 0
        while offset < buffer.count {
            let chunk = min(buffer.count - offset, 1 << 30)
            crc = crc32(crc, buffer.baseAddress! + offset, uInt(chunk))
            offset += chunk
        }
    }
    return UInt32(truncatingIfNeeded: crc)
}

private func appendLE(_ value: UInt32, to out: inout [UInt8]) {
    out += [UInt8(value & 0xff), UInt8(value >> 8 & 0xff), UInt8(value >> 16 & 0xff), UInt8(value >> 24)]
}

/// UInt32 little-endian at `offset`; the caller has checked `offset + 4 <= bytes.count`.
private func readLE(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
        | UInt32(bytes[offset + 3]) << 24
}

/// A one-line reason from a JSON decoding error (the default description is a multi-line dump).
private func describe(_ error: Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let key, _): return "missing key \"\(key.stringValue)\""
    case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
         DecodingError.dataCorrupted(let context):
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
    default: return "\(error)"
    }
}

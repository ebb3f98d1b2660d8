import Foundation

extension SafeTensors {
    /// Bytes per element of each dtype the format defines with a whole number of bytes.
    /// (Sub-byte types such as F4 are not supported.)
    public static let dtypeSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
        "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
        "I32": 4, "U32": 4, "F32": 4,
        "I64": 8, "U64": 8, "F64": 8, "C64": 8,
    ]

    /// Largest accepted JSON header, as in the reference implementation (100 MB): a guard
    /// against a damaged length field.
    public static let maxHeaderLength = 100_000_000

    /// The file's bytes: tensors in name order, packed without gaps; the JSON header (keys
    /// sorted, `__metadata__` only when non-empty) padded with spaces so the buffer starts at
    /// a multiple of 8 bytes. Tensors must be consistent (byte count = count × dtype size, no
    /// tensor named "__metadata__"): a programming error otherwise.
    public func encoded() -> [UInt8] {
        var entries: [String: Entry] = [:]
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            precondition(name != "__metadata__", "a tensor cannot be named __metadata__")
            precondition(t.shape.allSatisfy { $0 >= 0 }, "\(name): negative dimension in \(t.shape)")
            guard let size = Self.dtypeSizes[t.dtype] else { preconditionFailure("\(name): unknown dtype \(t.dtype)") }
            precondition(t.bytes.count == t.count * size,
                         "\(name): \(t.bytes.count) bytes for shape \(t.shape) of \(t.dtype)")
            entries[name] = Entry(dtype: t.dtype, shape: t.shape, dataOffsets: [offset, offset + t.bytes.count])
            offset += t.bytes.count
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var json: [UInt8]
        do { json = Array(try encoder.encode(Header(entries: entries, metadata: metadata))) } catch {
            preconditionFailure("JSON encoding of strings and integers cannot fail: \(error)")
        }
        json += [UInt8](repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8)

        var out: [UInt8] = []
        out.reserveCapacity(8 + json.count + offset)
        let n = UInt64(json.count)
        for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: n >> UInt64(shift))) }
        out += json
        for name in names { out += tensors[name]!.bytes }
        return out
    }

    /// Parses and validates `bytes`; `file` names the source in errors. Checks, in order: the
    /// 8-byte length and that the header fits in the file; the JSON (an object of tensor
    /// entries with a dtype string, a shape of non-negative integers, two integer offsets, and
    /// an optional string-to-string `__metadata__`); known dtypes; each tensor's byte count
    /// (product of shape × dtype size, without overflow) against its offsets; then that the
    /// tensors, in offset order, tile the buffer exactly: no overlap, no gap, no bytes past the
    /// end or after the last tensor.
    public static func decode(_ bytes: [UInt8], file: String) throws(SafeTensorsError) -> SafeTensors {
        guard bytes.count >= 8 else {
            throw .truncated(file: file, what: "the 8-byte header length", expected: 8, found: bytes.count)
        }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[i]) << UInt64(8 * i) }
        guard length <= UInt64(bytes.count - 8), length <= UInt64(maxHeaderLength) else {
            throw .headerLengthBeyondFile(file: file, headerLength: length, fileSize: bytes.count)
        }
        let headerEnd = 8 + Int(length)

        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(bytes[8..<headerEnd]))
        } catch {
            throw .badHeader(file: file, reason: describe(error))
        }

        // Per tensor: dtype, then size against offsets.
        var spans: [(name: String, begin: Int, end: Int)] = []
        for name in header.entries.keys.sorted() {
            let e = header.entries[name]!
            guard let size = dtypeSizes[e.dtype] else { throw .unknownDType(file: file, tensor: name, dtype: e.dtype) }
            if let d = e.shape.first(where: { $0 < 0 }) {
                throw .badHeader(file: file, reason: "tensor \"\(name)\" has negative dimension \(d) in shape \(e.shape)")
            }
            guard e.dataOffsets.count == 2 else {
                throw .badOffsets(file: file, tensor: name,
                                  reason: "expected [begin, end], found \(e.dataOffsets.count) numbers")
            }
            let begin = e.dataOffsets[0], end = e.dataOffsets[1]
            guard begin >= 0, begin <= end else {
                throw .badOffsets(file: file, tensor: name, reason: "[\(begin), \(end)] is not a byte range")
            }
            // Any overflow is an error, even before a zero dimension (as safetensors' checked_mul).
            var expected = size
            for d in e.shape {
                let (p, overflow) = expected.multipliedReportingOverflow(by: d)
                guard !overflow else {
                    throw .badHeader(file: file, reason: "tensor '\(name)': shape \(e.shape) holds more elements than can be addressed")
                }
                expected = p
            }
            guard expected == end - begin else {
                throw .sizeMismatch(file: file, tensor: name, dtype: e.dtype, shape: e.shape,
                                    expected: expected, found: end - begin)
            }
            spans.append((name, begin, end))
        }

        // Together: the spans must tile the buffer.
        spans.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        let bufferLength = bytes.count - headerEnd
        var covered = 0, previous = ""
        for s in spans {
            if s.begin < covered {
                throw .badOffsets(file: file, tensor: s.name,
                                  reason: "[\(s.begin), \(s.end)] overlaps tensor \"\(previous)\" ending at \(covered)")
            }
            if s.begin > covered {
                throw .badOffsets(file: file, tensor: s.name,
                                  reason: "buffer bytes \(covered)..<\(s.begin) before it belong to no tensor")
            }
            covered = s.end
            previous = s.name
        }
        if covered > bufferLength {
            let (total, overflow) = headerEnd.addingReportingOverflow(covered)
            throw .truncated(file: file, what: "header and tensor data", expected: overflow ? Int.max : total,
                             found: bytes.count)
        }
        if covered < bufferLength {
            throw .trailingBytes(file: file, expected: headerEnd + covered, found: bytes.count)
        }

        var tensors: [String: Tensor] = [:]
        for s in spans {
            let e = header.entries[s.name]!
            tensors[s.name] = Tensor(dtype: e.dtype, shape: e.shape,
                                     bytes: Array(bytes[(headerEnd + s.begin)..<(headerEnd + s.end)]))
        }
        return SafeTensors(tensors: tensors, metadata: header.metadata, source: file)
    }

    /// One header entry as in the file.
    struct Entry: Codable {
        var dtype: String
        var shape: [Int]
        var dataOffsets: [Int]
        enum CodingKeys: String, CodingKey { case dtype, shape, dataOffsets = "data_offsets" }
    }

    /// The header object: tensor entries keyed by name, plus `__metadata__`.
    struct Header: Codable {
        var entries: [String: Entry]
        var metadata: [String: String]

        init(entries: [String: Entry], metadata: [String: String]) {
            self.entries = entries
            self.metadata = metadata
        }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            entries = [:]
            metadata = [:]
            for key in c.allKeys {
                if key.stringValue == "__metadata__" {
                    metadata = try c.decode([String: String].self, forKey: key)
                } else {
                    entries[key.stringValue] = try c.decode(Entry.self, forKey: key)
                }
            }
        }

        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            if !metadata.isEmpty { try c.encode(metadata, forKey: Key("__metadata__")) }
            for (name, entry) in entries { try c.encode(entry, forKey: Key(name)) }
        }
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ s: String) { stringValue = s }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// A one-line reason from a JSON decoding error (the default description is a multi-line dump).
private func describe(_ error: Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let key, let context):
        let path = (context.codingPath + [key]).map(\.stringValue).joined(separator: ".")
        return "missing key \"\(path)\""
    case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
         DecodingError.dataCorrupted(let context):
        let path = context.codingPath.map(\.stringValue).joined(separator: ".")
        return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
    default: return "\(error)"
    }
}

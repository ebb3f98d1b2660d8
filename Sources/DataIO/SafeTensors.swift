/// A safetensors file (https://github.com/huggingface/safetensors): named tensors and string
/// metadata, the format `safetensors.torch.save_file` writes. The project uses it for PyTorch
/// parity fixtures and for exchanging weights with PyTorch.
///
/// Layout:
/// ```
/// offset   size   content
/// 0        8      N, UInt64 little-endian
/// 8        N      UTF-8 JSON: {name: {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
///                 …, optional "__metadata__": {string: string}}
/// 8+N      …      the byte buffer; each tensor's bytes are buffer[begin..<end], row-major,
///                 little-endian
/// ```
/// Reading validates everything before use (see `decode`), so any input gives a value or a
/// `SafeTensorsError` naming the file; it never traps.
public struct SafeTensors: Sendable {
    /// One tensor: its dtype name as in the file ("F32", "I64", …), its shape (empty for a
    /// scalar) and its raw little-endian bytes.
    public struct Tensor: Sendable, Equatable {
        public var dtype: String
        public var shape: [Int]
        public var bytes: [UInt8]

        public init(dtype: String, shape: [Int], bytes: [UInt8]) {
            self.dtype = dtype
            self.shape = shape
            self.bytes = bytes
        }

        /// Number of elements: the product of the shape (1 for a scalar).
        public var count: Int { shape.reduce(1, *) }
    }

    public var tensors: [String: Tensor]
    public var metadata: [String: String]
    /// Where the value was read from (the path or the `file` given to `decode`), for messages;
    /// "<memory>" for a value built in memory.
    public var source: String

    public init(tensors: [String: Tensor] = [:], metadata: [String: String] = [:], source: String = "<memory>") {
        self.tensors = tensors
        self.metadata = metadata
        self.source = source
    }

    /// Reads and fully validates a safetensors file.
    public static func read(from path: String) throws(SafeTensorsError) -> SafeTensors {
        let bytes: [UInt8]
        do throws(FileError) { bytes = try POSIXFile.readAll(path: path, limit: Int.max) } catch { throw .io(error) }
        return try decode(bytes, file: path)
    }

    /// Writes the file atomically (see `AtomicFile`).
    public func write(to path: String) throws(SafeTensorsError) {
        let bytes = encoded()
        do throws(FileError) { try AtomicFile.write(bytes, to: path) } catch { throw .io(error) }
    }

    /// The tensor called `name`, or `.missingTensor`.
    public func tensor(_ name: String) throws(SafeTensorsError) -> Tensor {
        guard let t = tensors[name] else {
            throw .missingTensor(file: source, tensor: name, available: tensors.keys.sorted())
        }
        return t
    }

    /// The values of a floating-point tensor as `Float`: F32 as stored; F64, F16 and BF16
    /// converted (F64 rounds to nearest).
    public func floats(_ name: String) throws(SafeTensorsError) -> [Float] {
        let t = try tensor(name)
        switch t.dtype {
        case "F32": return load(t.bytes, as: Float.self)
        case "F64": return load(t.bytes, as: Double.self).map { Float($0) }
        case "F16": return load(t.bytes, as: UInt16.self).map { Float(Float16(bitPattern: $0)) }
        case "BF16": return load(t.bytes, as: UInt16.self).map { Float(bitPattern: UInt32($0) << 16) }
        default: throw .wrongDType(file: source, tensor: name, dtype: t.dtype, expected: ["F32", "F64", "F16", "BF16"])
        }
    }

    /// The values of a floating-point tensor as `Double` (exact for F64, F32, F16 and BF16).
    public func doubles(_ name: String) throws(SafeTensorsError) -> [Double] {
        let t = try tensor(name)
        if t.dtype == "F64" { return load(t.bytes, as: Double.self) }
        do throws(SafeTensorsError) { return try floats(name).map(Double.init) } catch {
            throw .wrongDType(file: source, tensor: name, dtype: t.dtype, expected: ["F64", "F32", "F16", "BF16"])
        }
    }

    /// The values of an integer (or BOOL) tensor as `Int64`: every signed type and the unsigned
    /// ones that fit (U8, U16, U32). U64 is refused rather than wrapped.
    public func int64s(_ name: String) throws(SafeTensorsError) -> [Int64] {
        let t = try tensor(name)
        switch t.dtype {
        case "I64": return load(t.bytes, as: Int64.self)
        case "I32": return load(t.bytes, as: Int32.self).map(Int64.init)
        case "I16": return load(t.bytes, as: Int16.self).map(Int64.init)
        case "I8": return load(t.bytes, as: Int8.self).map(Int64.init)
        case "U32": return load(t.bytes, as: UInt32.self).map(Int64.init)
        case "U16": return load(t.bytes, as: UInt16.self).map(Int64.init)
        case "U8", "BOOL": return t.bytes.map(Int64.init)
        default:
            throw .wrongDType(file: source, tensor: name, dtype: t.dtype,
                              expected: ["I64", "I32", "I16", "I8", "U32", "U16", "U8", "BOOL"])
        }
    }

    /// Stores `floats` as an F32 tensor of `shape` (`[]` for a scalar), replacing any tensor of
    /// that name. The element count must match the shape (a programming error otherwise).
    public mutating func set(_ name: String, floats: [Float], shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == floats.count,
                     "\(name): \(floats.count) values do not fill shape \(shape)")
        tensors[name] = Tensor(dtype: "F32", shape: shape, bytes: floats.withUnsafeBytes { Array($0) })
    }

    /// Stores `doubles` as an F64 tensor of `shape`.
    public mutating func set(_ name: String, doubles: [Double], shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == doubles.count,
                     "\(name): \(doubles.count) values do not fill shape \(shape)")
        tensors[name] = Tensor(dtype: "F64", shape: shape, bytes: doubles.withUnsafeBytes { Array($0) })
    }

    /// Stores `int64s` as an I64 tensor of `shape`.
    public mutating func set(_ name: String, int64s: [Int64], shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == int64s.count,
                     "\(name): \(int64s.count) values do not fill shape \(shape)")
        tensors[name] = Tensor(dtype: "I64", shape: shape, bytes: int64s.withUnsafeBytes { Array($0) })
    }
}

/// Why a safetensors file could not be read or written. Every case names the file.
public enum SafeTensorsError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Shorter than its own header or offsets say.
    case truncated(file: String, what: String, expected: Int, found: Int)
    /// The 8-byte header length points past the end of the file (or above the size limit).
    case headerLengthBeyondFile(file: String, headerLength: UInt64, fileSize: Int)
    /// The JSON header is unreadable or does not have the expected structure.
    case badHeader(file: String, reason: String)
    /// A dtype this reader does not know.
    case unknownDType(file: String, tensor: String, dtype: String)
    /// A tensor's data offsets are reversed, overlap another tensor's, or leave a gap.
    case badOffsets(file: String, tensor: String, reason: String)
    /// A tensor's byte count is not its element count times its dtype's size.
    case sizeMismatch(file: String, tensor: String, dtype: String, shape: [Int], expected: Int, found: Int)
    /// The buffer holds bytes after the last tensor.
    case trailingBytes(file: String, expected: Int, found: Int)
    /// An accessor asked for a tensor the file does not have.
    case missingTensor(file: String, tensor: String, available: [String])
    /// An accessor asked for a tensor of another kind (e.g. floats of an I64 tensor).
    case wrongDType(file: String, tensor: String, dtype: String, expected: [String])
    /// The file could not be read or written.
    case io(FileError)

    public var description: String {
        switch self {
        case let .truncated(file, what, expected, found):
            return "\(file): truncated safetensors file: expected \(expected) bytes (\(what)), found \(found)"
        case let .headerLengthBeyondFile(file, length, size):
            return "\(file): safetensors header length \(length) does not fit in the file of \(size) bytes"
        case let .badHeader(file, reason):
            return "\(file): bad safetensors header: \(reason)"
        case let .unknownDType(file, tensor, dtype):
            return "\(file): tensor \"\(tensor)\" has unknown dtype \"\(dtype)\""
                + " (known: \(SafeTensors.dtypeSizes.keys.sorted().joined(separator: ", ")))"
        case let .badOffsets(file, tensor, reason):
            return "\(file): tensor \"\(tensor)\": bad data_offsets: \(reason)"
        case let .sizeMismatch(file, tensor, dtype, shape, expected, found):
            return "\(file): tensor \"\(tensor)\" of dtype \(dtype) and shape \(shape) needs \(expected) bytes"
                + " but its data_offsets span \(found)"
        case let .trailingBytes(file, expected, found):
            return "\(file): safetensors buffer has \(found - expected) bytes after the last tensor"
                + " (expected \(expected) bytes, found \(found))"
        case let .missingTensor(file, tensor, available):
            let list = available.count <= 8 ? available.joined(separator: ", ")
                : available.prefix(8).joined(separator: ", ") + ", … (\(available.count) in all)"
            return "\(file): no tensor named \"\(tensor)\" (has: \(list))"
        case let .wrongDType(file, tensor, dtype, expected):
            return "\(file): tensor \"\(tensor)\" has dtype \(dtype), expected one of \(expected.joined(separator: ", "))"
        case let .io(error):
            return error.description
        }
    }
}

#if !_endian(little)
#error("SafeTensors reads little-endian data by memcpy; a big-endian host needs byte swapping here")
#endif

/// The little-endian elements of `bytes` as `T` (the byte count is a multiple of the size,
/// checked when the tensor was decoded or set).
private func load<T: BitwiseCopyable>(_ bytes: [UInt8], as: T.Type) -> [T] {
    let n = bytes.count / MemoryLayout<T>.size
    return bytes.withUnsafeBytes { raw in
        (0..<n).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) }
    }
}

/// Why a dataset file could not be loaded.
///
/// Every case names the file by the path the caller gave, so the message alone tells the user
/// which file to fetch again, decompress, or replace. Sizes are in bytes of the (decompressed)
/// content.
public enum DataError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file does not exist. `alsoTried` lists other names that were looked for (e.g. `.gz`).
    case missingFile(path: String, alsoTried: [String] = [])
    /// The file exists but could not be read (permissions, a directory, an I/O error).
    case unreadable(path: String, reason: String)
    /// The first bytes are not the format's magic number.
    case badMagic(file: String, found: [UInt8])
    /// IDX type byte other than 0x08 (unsigned byte), the only type the datasets use.
    case unsupportedType(file: String, typeByte: UInt8)
    /// Fewer bytes than the header promises. `what` says what was expected.
    case truncated(file: String, what: String, expected: Int, found: Int)
    /// More bytes than the header promises: the file is not what its header claims.
    case trailingBytes(file: String, expected: Int, found: Int)
    /// Dimensions of the wrong number, zero, or too large.
    case badShape(file: String, reason: String)
    /// An images file and a labels file disagree on the number of samples.
    case countMismatch(images: String, imageCount: Int, labels: String, labelCount: Int)
    /// A label that is not a class index.
    case labelOutOfRange(file: String, index: Int, label: Int, classes: Int)
    /// A fixed-record file (CIFAR-10) whose length is not a positive multiple of the record size.
    case badRecordLength(file: String, length: Int, recordSize: Int)
    /// The gzip stream is damaged or cut short.
    case corruptGzip(file: String, reason: String)
    /// The content exceeds the size limit (a guard against decompression bombs and bad headers).
    case tooLarge(file: String, limit: Int)

    public var description: String {
        switch self {
        case let .missingFile(path, alsoTried):
            let tried = alsoTried.isEmpty ? "" : " (also tried \(alsoTried.joined(separator: ", ")))"
            return "\(path): missing file\(tried)"
        case let .unreadable(path, reason):
            return "\(path): unreadable: \(reason)"
        case let .badMagic(file, found):
            return "\(file): bad magic number: found \(hex(found)); not a file of the expected format"
        case let .unsupportedType(file, typeByte):
            return "\(file): unsupported IDX element type 0x\(hex([typeByte])); only 0x08 (unsigned byte) is supported"
        case let .truncated(file, what, expected, found):
            return "\(file): truncated: expected \(expected) bytes of \(what), found \(found)"
        case let .trailingBytes(file, expected, found):
            return "\(file): trailing bytes: expected \(expected) bytes, found \(found) (\(found - expected) extra)"
        case let .badShape(file, reason):
            return "\(file): bad shape: \(reason)"
        case let .countMismatch(images, imageCount, labels, labelCount):
            return "\(images) has \(imageCount) images but \(labels) has \(labelCount) labels"
        case let .labelOutOfRange(file, index, label, classes):
            return "\(file): label \(label) of sample \(index) is out of range 0..<\(classes)"
        case let .badRecordLength(file, length, recordSize):
            return "\(file): length \(length) is not a positive multiple of the record size \(recordSize)"
        case let .corruptGzip(file, reason):
            return "\(file): corrupt gzip data: \(reason)"
        case let .tooLarge(file, limit):
            return "\(file): content exceeds the limit of \(limit) bytes"
        }
    }
}

/// Space-separated lowercase hex, for magic numbers in messages.
func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    return bytes.map { String([digits[Int($0 >> 4)], digits[Int($0 & 15)]]) }.joined(separator: " ")
}

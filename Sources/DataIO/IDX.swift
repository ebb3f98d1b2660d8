/// Reader for the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).
///
/// Layout, all integers big-endian:
/// ```
/// 0      2 bytes  0x00 0x00              magic
/// 2      1 byte   element type           0x08 = unsigned byte (the only type accepted)
/// 3      1 byte   ndims
/// 4      4·ndims  UInt32 dimension sizes, slowest-varying first
/// 4+4·ndims       product(dims) elements, row-major
/// ```
/// Files may be raw or gzip-compressed (detected by content, see `Gzip`). The length must match
/// the header exactly: a short file is truncated, a long one is not what its header says, and
/// both mean a bad download.
public enum IDX {
    /// Largest accepted element count (product of dims): 2^31, which also keeps every offset
    /// computation far from overflow.
    public static let maxElements = 1 << 31

    /// Reads an IDX file of unsigned bytes: its dimensions and its data (without the header).
    public static func read(path: String) throws(DataError) -> (dims: [Int], bytes: [UInt8]) {
        let (content, compressed) = try Gzip.readFileNotingCompression(path: path, limit: Gzip.defaultLimit)
        return try parse(content, file: path, compressed: compressed)
    }

    /// Parses the content of an IDX file already in memory. `file` names it in errors.
    public static func parse(_ content: [UInt8], file: String,
                             compressed: Bool = false) throws(DataError) -> (dims: [Int], bytes: [UInt8]) {
        let note = compressed ? " (decompressed)" : ""
        guard content.count >= 4 else {
            if content.count >= 2 && (content[0] != 0 || content[1] != 0) {
                throw .badMagic(file: file, found: Array(content))
            }
            throw .truncated(file: file, what: "IDX header\(note)", expected: 4, found: content.count)
        }
        guard content[0] == 0, content[1] == 0 else {
            throw .badMagic(file: file, found: Array(content[0..<4]))
        }
        guard content[2] == 0x08 else { throw .unsupportedType(file: file, typeByte: content[2]) }
        let ndims = Int(content[3])
        guard ndims > 0 else { throw .badShape(file: file, reason: "the header declares 0 dimensions") }

        let headerLength = 4 + 4 * ndims
        guard content.count >= headerLength else {
            throw .truncated(file: file, what: "IDX header with \(ndims) dimensions\(note)",
                             expected: headerLength, found: content.count)
        }
        var dims: [Int] = []
        // The product of the non-zero dimensions is bounded too, so that every partial
        // product (a sample's height × width, say) fits in an Int even when a zero
        // dimension makes the whole file empty.
        var nonZero = 1
        for d in 0..<ndims {
            let o = 4 + 4 * d
            let size = Int(content[o]) << 24 | Int(content[o + 1]) << 16 | Int(content[o + 2]) << 8 | Int(content[o + 3])
            dims.append(size)
            if size > 0 {
                let (product, overflow) = nonZero.multipliedReportingOverflow(by: size)
                nonZero = overflow ? Int.max : product
            }
        }
        let elements = dims.contains(0) ? 0 : nonZero
        let shape = dims.map(String.init).joined(separator: "×")
        guard nonZero <= maxElements else {
            throw .badShape(file: file, reason: "dimensions \(shape) hold more than 2^31 elements")
        }
        let expected = headerLength + elements
        if content.count < expected {
            throw .truncated(file: file, what: "IDX header and data for dimensions \(shape)\(note)",
                             expected: expected, found: content.count)
        }
        if content.count > expected {
            throw .trailingBytes(file: file, expected: expected, found: content.count)
        }
        return (dims, Array(content[headerLength...]))
    }

    /// Loads an images file (dims N×H×W) and a labels file (dims N) into a one-channel dataset.
    /// Pixels become byte/255 in [0, 1]; labels must lie in `0..<classes`.
    public static func loadPair(images: String, labels: String, name: String,
                                classes: Int) throws(DataError) -> Dataset {
        precondition(classes > 0, "classes must be positive")
        let image = try read(path: images)
        guard image.dims.count == 3 else {
            throw .badShape(file: images, reason: "an images file needs 3 dimensions (count, height, width), "
                + "found \(image.dims.count) (\(image.dims.map(String.init).joined(separator: "×")))")
        }
        let (count, height, width) = (image.dims[0], image.dims[1], image.dims[2])
        guard height > 0, width > 0 else {
            throw .badShape(file: images, reason: "image size \(height)×\(width) is empty")
        }
        let label = try read(path: labels)
        guard label.dims.count == 1 else {
            throw .badShape(file: labels, reason: "a labels file needs 1 dimension (count), found \(label.dims.count)")
        }
        guard label.dims[0] == count else {
            throw .countMismatch(images: images, imageCount: count, labels: labels, labelCount: label.dims[0])
        }
        var classLabels = [Int32](repeating: 0, count: count)
        for (i, l) in label.bytes.enumerated() {
            guard Int(l) < classes else {
                throw .labelOutOfRange(file: labels, index: i, label: Int(l), classes: classes)
            }
            classLabels[i] = Int32(l)
        }
        return Dataset(name: name, channels: 1, height: height, width: width, classes: classes,
                       images: normalizedPixels(image.bytes), labels: classLabels)
    }
}

/// byte/255 for every byte, through a 256-entry table (exactly the quotient; 255 → 1.0).
func normalizedPixels(_ bytes: [UInt8]) -> [Float] {
    let table = (0..<256).map { Float($0) / 255 }
    return [Float](unsafeUninitializedCapacity: bytes.count) { (out, initialized) in
        table.withUnsafeBufferPointer { t in
            bytes.withUnsafeBufferPointer { b in
                for i in 0..<b.count { out[i] = t[Int(b[i])] }
            }
        }
        initialized = bytes.count
    }
}

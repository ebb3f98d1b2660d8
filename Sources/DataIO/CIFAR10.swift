/// Reader for the binary version of CIFAR-10 (https://www.cs.toronto.edu/~kriz/cifar.html).
///
/// A batch file is a sequence of 3073-byte records: 1 label byte (0...9), then 3072 pixel bytes,
/// 32×32 red, then green, then blue, each row-major: already the CHW order the models use, so
/// pixels are copied in place (byte/255). The format has no header, so the only integrity checks
/// are the length (a positive multiple of 3073) and the label range.
public enum CIFAR10 {
    public static let classes = 10
    public static let channels = 3, height = 32, width = 32
    public static let pixelsPerImage = channels * height * width   // 3072
    public static let recordSize = 1 + pixelsPerImage               // 3073

    /// Batch names of the split, in load order.
    public static func fileNames(_ split: Split) -> [String] {
        switch split {
        case .train: return (1...5).map { "data_batch_\($0).bin" }
        case .test: return ["test_batch.bin"]
        }
    }

    /// Reads one batch file: its pixels (count·3072, in [0, 1]) and labels.
    public static func read(path: String) throws(DataError) -> (images: [Float], labels: [Int32]) {
        let content = try Gzip.readFile(path: path)
        try validate(content, file: path)
        let count = content.count / recordSize
        var labels = [Int32](repeating: 0, count: count)
        var pixels = [UInt8](repeating: 0, count: count * pixelsPerImage)
        content.withUnsafeBufferPointer { source in
            pixels.withUnsafeMutableBufferPointer { target in
                for i in 0..<count {
                    labels[i] = Int32(source[i * recordSize])
                    let from = source.baseAddress! + i * recordSize + 1
                    (target.baseAddress! + i * pixelsPerImage).update(from: from, count: pixelsPerImage)
                }
            }
        }
        return (normalizedPixels(pixels), labels)
    }

    /// Checks the length and every label before anything is converted.
    static func validate(_ content: [UInt8], file: String) throws(DataError) {
        guard !content.isEmpty, content.count % recordSize == 0 else {
            throw .badRecordLength(file: file, length: content.count, recordSize: recordSize)
        }
        for i in 0..<(content.count / recordSize) {
            let label = content[i * recordSize]
            guard Int(label) < classes else {
                throw .labelOutOfRange(file: file, index: i, label: Int(label), classes: classes)
            }
        }
    }

    /// Loads and concatenates batch files, in the order given, into one dataset.
    public static func load(paths: [String], name: String = DatasetKind.cifar10.rawValue) throws(DataError) -> Dataset {
        var images: [Float] = []
        var labels: [Int32] = []
        for path in paths {
            let batch = try read(path: path)
            if images.isEmpty {
                images.reserveCapacity(batch.images.count * paths.count)
                labels.reserveCapacity(batch.labels.count * paths.count)
            }
            images.append(contentsOf: batch.images)
            labels.append(contentsOf: batch.labels)
        }
        return Dataset(name: name, channels: channels, height: height, width: width, classes: classes,
                       images: images, labels: labels)
    }
}

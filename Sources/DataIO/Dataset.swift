/// A labelled image dataset held in memory as flat arrays.
///
/// `images` holds `count` samples of `channels·height·width` floats each, channel-major (CHW)
/// within a sample, with values byte/255 in [0, 1]; flat storage lets a batch be gathered with
/// one copy per sample and fed to GEMM-based layers without reshaping.
public struct Dataset: Sendable {
    public let name: String
    public let channels: Int, height: Int, width: Int
    public let classes: Int
    /// count × sampleSize floats, CHW per sample, in [0, 1].
    public var images: [Float]
    /// count labels, each in 0..<classes.
    public var labels: [Int32]

    public var count: Int { labels.count }
    public var sampleSize: Int { channels * height * width }

    /// Sizes must agree (`images.count == labels.count · channels·height·width`): a mismatch is
    /// a programming error, since loaders validate files before building a dataset.
    public init(name: String, channels: Int, height: Int, width: Int, classes: Int,
                images: [Float], labels: [Int32]) {
        precondition(channels > 0 && height > 0 && width > 0 && classes > 0, "dataset dimensions must be positive")
        precondition(images.count == labels.count * channels * height * width,
                     "images.count \(images.count) != \(labels.count) samples × \(channels)×\(height)×\(width)")
        self.name = name
        self.channels = channels
        self.height = height
        self.width = width
        self.classes = classes
        self.images = images
        self.labels = labels
    }

    /// The first `n` samples (`n` clamped to 0...count), e.g. for quick runs and tests.
    public func prefix(_ n: Int) -> Dataset {
        let k = min(max(n, 0), count)
        return Dataset(name: name, channels: channels, height: height, width: width, classes: classes,
                       images: Array(images[0..<(k * sampleSize)]), labels: Array(labels[0..<k]))
    }
}

public enum DatasetKind: String, CaseIterable, Sendable {
    case fashionMNIST = "fashion-mnist", mnist, cifar10

    public var classes: Int { 10 }
}

public enum Split: String, CaseIterable, Sendable { case train, test }

public enum DatasetLoader {
    /// Loads a split from `directory`.
    ///
    /// - fashion-mnist, mnist: IDX files `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
    ///   `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each raw or with `.gz` (the raw
    ///   file is preferred when both exist: it needs no decompression).
    /// - cifar10: the binary version, `data_batch_1.bin`…`data_batch_5.bin` and `test_batch.bin`,
    ///   in `directory` or in `directory/cifar-10-batches-bin` (where the official tarball unpacks).
    public static func load(_ kind: DatasetKind, directory: String, split: Split) throws(DataError) -> Dataset {
        switch kind {
        case .fashionMNIST, .mnist:
            let prefix = split == .train ? "train" : "t10k"
            let images = try locate("\(prefix)-images-idx3-ubyte", in: directory)
            let labels = try locate("\(prefix)-labels-idx1-ubyte", in: directory)
            return try IDX.loadPair(images: images, labels: labels, name: kind.rawValue, classes: kind.classes)
        case .cifar10:
            let names = CIFAR10.fileNames(split)
            let nested = join(directory, "cifar-10-batches-bin")
            let base = POSIXFile.exists(join(directory, names[0])) || !POSIXFile.exists(join(nested, names[0]))
                ? directory : nested
            var paths: [String] = []
            for name in names {
                let path = join(base, name)
                guard POSIXFile.exists(path) else {
                    let other = base == directory ? join(nested, name) : join(directory, name)
                    throw .missingFile(path: path, alsoTried: [other])
                }
                paths.append(path)
            }
            return try CIFAR10.load(paths: paths, name: kind.rawValue)
        }
    }

    /// `directory/name` if it exists, else `directory/name.gz`, else a missing-file error naming both.
    static func locate(_ name: String, in directory: String) throws(DataError) -> String {
        let raw = join(directory, name)
        if POSIXFile.exists(raw) { return raw }
        if POSIXFile.exists(raw + ".gz") { return raw + ".gz" }
        throw .missingFile(path: raw, alsoTried: [raw + ".gz"])
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.isEmpty ? name : directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}

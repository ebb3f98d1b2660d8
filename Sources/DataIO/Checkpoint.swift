/// Everything needed to resume a training run exactly where it stopped.
///
/// Position is "the next step to run": resuming runs step `stepInEpoch` of epoch `epoch`, and
/// `globalStep` steps have been done so far (the schedules are functions of it). The binary
/// format is described on `Checkpoint.encoded()`; files are written atomically, so a crash
/// while saving leaves the previous checkpoint intact.
public struct Checkpoint: Equatable, Sendable {
    /// The run's configuration as JSON text, stored verbatim (opaque here).
    public var configJSON: String
    /// Epoch index of the next step to run (0-based).
    public var epoch: Int
    /// Step index within that epoch of the next step to run.
    public var stepInEpoch: Int
    /// Steps done so far.
    public var globalStep: Int
    /// All model parameters, one flat buffer.
    public var parameters: [Float]
    /// Optimizer momentum, same count as `parameters`.
    public var momentum: [Float]
    /// Free-form metadata (model name, dataset, ranks, …).
    public var extra: [String: String]

    public init(configJSON: String, epoch: Int, stepInEpoch: Int, globalStep: Int,
                parameters: [Float], momentum: [Float], extra: [String: String] = [:]) {
        self.configJSON = configJSON
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
        self.globalStep = globalStep
        self.parameters = parameters
        self.momentum = momentum
        self.extra = extra
    }

    /// Writes the checkpoint atomically (see `AtomicFile`).
    public func write(to path: String) throws(CheckpointError) {
        let bytes = encoded()
        do throws(FileError) { try AtomicFile.write(bytes, to: path) } catch { throw .io(error) }
    }

    /// Reads and fully validates a checkpoint file.
    public static func read(from path: String) throws(CheckpointError) -> Checkpoint {
        let bytes: [UInt8]
        do throws(FileError) { bytes = try POSIXFile.readAll(path: path, limit: Int.max) } catch { throw .io(error) }
        return try decode(bytes, file: path)
    }
}

/// Why a checkpoint could not be read or written. Every case names the file.
public enum CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Not a checkpoint: the first 8 bytes are not "DISTTRCK".
    case badMagic(file: String, found: [UInt8])
    /// Written by a newer (or unknown) version of the format.
    case unsupportedVersion(file: String, version: UInt32, supported: UInt32)
    /// Shorter than its own header says.
    case truncated(file: String, expected: Int, found: Int)
    /// Longer than its own header says.
    case trailingBytes(file: String, expected: Int, found: Int)
    /// The CRC-32 at the end does not match the content: the file is damaged.
    case checksumMismatch(file: String, stored: UInt32, computed: UInt32)
    /// The JSON header is unreadable or holds impossible values.
    case badHeader(file: String, reason: String)
    /// The configuration in the header does not match the digest stored beside it.
    case configDigestMismatch(file: String, stored: String, computed: String)
    /// The file could not be read or written.
    case io(FileError)

    public var description: String {
        switch self {
        case let .badMagic(file, found):
            return "\(file): not a dist-train checkpoint: magic is \(hex(found)), expected \"DISTTRCK\""
        case let .unsupportedVersion(file, version, supported):
            return "\(file): checkpoint format version \(version) is not supported (this build reads version \(supported))"
        case let .truncated(file, expected, found):
            return "\(file): truncated checkpoint: expected \(expected) bytes, found \(found)"
        case let .trailingBytes(file, expected, found):
            return "\(file): checkpoint has trailing bytes: expected \(expected) bytes, found \(found)"
        case let .checksumMismatch(file, stored, computed):
            return "\(file): checkpoint is corrupt: stored CRC-32 \(hex32(stored)), computed \(hex32(computed))"
        case let .badHeader(file, reason):
            return "\(file): bad checkpoint header: \(reason)"
        case let .configDigestMismatch(file, stored, computed):
            return "\(file): checkpoint configuration does not match its \(Checkpoint.configDigestKey) "
                + "(stored \(stored), computed \(computed)): the header was edited or written wrongly"
        case let .io(error):
            return error.description
        }
    }
}

private func hex32(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}

import DataIO
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes one TensorBoard event file: scalars, histograms and text, readable by `tensorboard
/// --logdir` and by TensorBoard's Python `EventAccumulator`.
///
/// Records are kept in memory and `flush()` replaces the whole file atomically (`AtomicFile`),
/// so a TensorBoard polling the directory, or a crash mid-write, never sees a torn record.
/// The price is rewriting the file on each flush, which is fine at event-file sizes (kilobytes
/// to a few megabytes); flush once per epoch or so, not per step. Nothing reaches disk between
/// flushes. Not thread-safe: one writer per process (rank 0), one thread.
public final class TensorBoardWriter {
    /// The event file: `<directory>/events.out.tfevents.<unix seconds>.<hostname><suffix>`.
    public let path: String

    /// Every framed record so far, beginning with the file-version event.
    private(set) var contents: [UInt8] = []

    /// Creates `directory` (with parents) and writes the file-version event at once, so a bad
    /// directory fails here rather than at the first flush. Two writers created in the same
    /// second in one directory need different `fileSuffix`es, as with TensorFlow's writer.
    public init(directory: String, fileSuffix: String = "") throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let seconds = Int(Date().timeIntervalSince1970)
        path = directory + "/events.out.tfevents.\(seconds).\(Self.hostName())\(fileSuffix)"
        appendEvent(wallTime: Date().timeIntervalSince1970, step: nil) { event in
            event.string(TensorBoardField.Event.fileVersion, "brain.Event:2")
        }
        try flush()
    }

    /// A scalar (`simple_value`). TensorBoard stores it as float32, so precision beyond ~7
    /// significant digits is lost.
    public func scalar(_ tag: String, _ value: Double, step: Int,
                       wallTime: Double = Date().timeIntervalSince1970) {
        appendSummaryValue(tag: tag, step: step, wallTime: wallTime) { entry in
            entry.float(TensorBoardField.Value.simpleValue, Float(value))
        }
    }

    /// A histogram with explicit buckets. Bucket `i` covers (bucketLimits[i-1], bucketLimits[i]]
    /// (the first from -DBL_MAX); `num` is the sum of `counts`.
    public func histogram(_ tag: String, bucketLimits: [Double], counts: [Double],
                          min: Double, max: Double, sum: Double, sumSquares: Double, step: Int,
                          wallTime: Double = Date().timeIntervalSince1970) {
        precondition(bucketLimits.count == counts.count,
                     "histogram \(tag): \(bucketLimits.count) bucket limits but \(counts.count) counts")
        appendSummaryValue(tag: tag, step: step, wallTime: wallTime) { value in
            value.message(TensorBoardField.Value.histo) { histo in
                histo.double(TensorBoardField.Histogram.min, min)
                histo.double(TensorBoardField.Histogram.max, max)
                histo.double(TensorBoardField.Histogram.num, counts.reduce(0, +))
                histo.double(TensorBoardField.Histogram.sum, sum)
                histo.double(TensorBoardField.Histogram.sumSquares, sumSquares)
                histo.packedDoubles(TensorBoardField.Histogram.bucketLimit, bucketLimits)
                histo.packedDoubles(TensorBoardField.Histogram.bucket, counts)
            }
        }
    }

    /// A histogram of `values` over strictly increasing `edges` (see `TensorBoardHistogram`).
    public func histogram(_ tag: String, values: [Double], edges: [Double], step: Int,
                          wallTime: Double = Date().timeIntervalSince1970) {
        let h = TensorBoardHistogram(values: values, edges: edges)
        histogram(tag, bucketLimits: h.bucketLimits, counts: h.counts, min: h.min, max: h.max,
                  sum: h.sum, sumSquares: h.sumSquares, step: step, wallTime: wallTime)
    }

    /// Markdown text, shown by TensorBoard's Text tab: a scalar string tensor tagged with the
    /// "text" plugin, the form `tf.summary.text` writes.
    public func text(_ tag: String, _ markdown: String, step: Int,
                     wallTime: Double = Date().timeIntervalSince1970) {
        appendSummaryValue(tag: tag, step: step, wallTime: wallTime) { value in
            value.message(TensorBoardField.Value.metadata) { metadata in
                metadata.message(TensorBoardField.Metadata.pluginData) { plugin in
                    plugin.string(TensorBoardField.PluginData.pluginName, "text")
                }
            }
            value.message(TensorBoardField.Value.tensor) { tensor in
                tensor.int64(TensorBoardField.Tensor.dtype, TensorBoardField.Tensor.dtString)
                tensor.message(TensorBoardField.Tensor.shape) { _ in }   // rank 0: an empty shape
                tensor.string(TensorBoardField.Tensor.stringValue, markdown)
            }
        }
    }

    /// A SessionLog START at `step`: TensorBoard's readers then drop the events of earlier
    /// files at `step` or later, so a run resumed from a checkpoint at step `step - 1` shows
    /// each step once, as written after the resume, not also as written before it stopped.
    public func sessionStart(step: Int, wallTime: Double = Date().timeIntervalSince1970) {
        appendEvent(wallTime: wallTime, step: step) { event in
            event.message(TensorBoardField.Event.sessionLog) { log in
                log.int64(TensorBoardField.SessionLog.status, TensorBoardField.SessionLog.start)
            }
        }
    }

    /// Replaces the file on disk with every record written so far.
    public func flush() throws(FileError) {
        try AtomicFile.write(contents, to: path)
    }

    // MARK: - Encoding

    /// TFRecord framing: uint64 LE length, uint32 LE masked CRC-32C of those 8 bytes, the data,
    /// uint32 LE masked CRC-32C of the data. The length CRC lets a reader reject a corrupt
    /// length before trusting it to size a read.
    static func frame(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        let length = littleEndianBytes(UInt64(data.count))
        out += length
        out += littleEndianBytes(CRC32C.maskedChecksum(length))
        out += data
        out += littleEndianBytes(CRC32C.maskedChecksum(data))
        return out
    }

    /// An Event with `wall_time`, `step` (omitted when nil) and what `body` adds.
    static func event(wallTime: Double, step: Int?, _ body: (inout ProtobufWriter) -> Void) -> [UInt8] {
        var event = ProtobufWriter()
        event.double(TensorBoardField.Event.wallTime, wallTime)
        if let step { event.int64(TensorBoardField.Event.step, Int64(step)) }
        body(&event)
        return event.bytes
    }

    private func appendEvent(wallTime: Double, step: Int?, _ body: (inout ProtobufWriter) -> Void) {
        contents += Self.frame(Self.event(wallTime: wallTime, step: step, body))
    }

    /// One Event holding a Summary with a single Value named `tag`.
    private func appendSummaryValue(tag: String, step: Int, wallTime: Double,
                                    _ body: (inout ProtobufWriter) -> Void) {
        appendEvent(wallTime: wallTime, step: step) { event in
            event.message(TensorBoardField.Event.summary) { summary in
                summary.message(TensorBoardField.Summary.value) { value in
                    value.string(TensorBoardField.Value.tag, tag)
                    body(&value)
                }
            }
        }
    }

    private static func littleEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    private static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}

/// Field numbers, from tensorboard/compat/proto/{event,summary,histogram,tensor,types}.proto.
private enum TensorBoardField {
    enum Event { static let wallTime = 1, step = 2, fileVersion = 3, summary = 5, sessionLog = 7 }
    /// SessionLog: `status` is an enum, START = 1.
    enum SessionLog { static let status = 1, start: Int64 = 1 }
    enum Summary { static let value = 1 }
    enum Value { static let tag = 1, simpleValue = 2, histo = 5, tensor = 8, metadata = 9 }
    enum Metadata { static let pluginData = 1 }
    enum PluginData { static let pluginName = 1 }
    enum Histogram {
        static let min = 1, max = 2, num = 3, sum = 4, sumSquares = 5, bucketLimit = 6, bucket = 7
    }
    enum Tensor {
        static let dtype = 1, shape = 2, stringValue = 8
        /// DataType.DT_STRING in types.proto.
        static let dtString: Int64 = 7
    }
}

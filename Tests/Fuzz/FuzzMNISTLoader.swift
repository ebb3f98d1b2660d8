import DataIO

/// An MNIST-style images file and labels file loaded as a dataset, through the same call the
/// trainer makes: `DatasetLoader.load(.mnist, directory:, split: .test)`.
///
/// Input: byte 0 and 1 are a little-endian length L; the next L bytes (fewer if the input is
/// shorter) are `t10k-images-idx3-ubyte`, the rest `t10k-labels-idx1-ubyte`. Either may be
/// gzip (detected by content).
///
/// Checks: a `DataError` naming one of the two files; or a dataset whose `sampleSize` and
/// `prefix(_:)` can be used (no overflow trap), whose count, shape and array sizes agree, with
/// labels in 0..<10 and pixels in [0, 1].
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    let split = bytes.count >= 2 ? min(Int(bytes[0]) | Int(bytes[1]) << 8, bytes.count - 2) : 0
    let body = bytes.dropFirst(min(2, bytes.count))
    let images = scratchDirectory + "/t10k-images-idx3-ubyte"
    let labels = scratchDirectory + "/t10k-labels-idx1-ubyte"
    writeScratch(Array(body.prefix(split)), to: images)
    writeScratch(Array(body.dropFirst(split)), to: labels)
    defer { writeScratch(nil, to: images); writeScratch(nil, to: labels) }

    do throws(DataError) {
        let d = try DatasetLoader.load(.mnist, directory: scratchDirectory, split: .test)
        guard d.channels == 1, d.height > 0, d.width > 0, d.classes == 10 else {
            violated("dataset shape \(d.channels)×\(d.height)×\(d.width), \(d.classes) classes")
        }
        // What the trainer does first with a dataset: its sample size, a prefix.
        let sample = d.sampleSize
        let head = d.prefix(1)
        guard sample == d.height * d.width, d.images.count == d.count * sample else {
            violated("images.count \(d.images.count) for \(d.count) samples of \(sample)")
        }
        guard head.count == min(1, d.count), head.images.count == head.count * sample else { violated("prefix(1)") }
        guard d.labels.allSatisfy({ 0..<10 ~= $0 }) else { violated("label out of range accepted") }
        guard d.images.allSatisfy({ 0...1 ~= $0 }) else { violated("pixel outside [0, 1]") }
        outcome(accepted: "\(d.count) images of \(d.height)×\(d.width)")
    } catch {
        outcome(error)
        checkNamesFile(error.description, images, labels, prefix: !isCountMismatch(error))
    }
    return 0
}

private func isCountMismatch(_ error: DataError) -> Bool {
    if case .countMismatch = error { return true }
    return false
}

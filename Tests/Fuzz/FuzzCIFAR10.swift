import DataIO

/// A CIFAR-10 binary batch (raw or gzip) loaded as a dataset, through the same call the
/// trainer makes: `DatasetLoader.load(.cifar10, directory:, split: .test)`, which reads
/// `test_batch.bin` with `CIFAR10.read(path:)`. (CIFAR10 has no bytes-level entry point, so
/// the input goes through a file in a scratch directory under /dev/shm.)
///
/// Checks: a `DataError` naming the file; or a dataset of 3×32×32 images with as many images
/// as labels (at least one), labels in 0..<10 and pixels in [0, 1], usable via `prefix(_:)`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let path = scratchDirectory + "/test_batch.bin"
    writeScratch(inputBytes(data, size), to: path)
    defer { writeScratch(nil, to: path) }

    do throws(DataError) {
        let d = try DatasetLoader.load(.cifar10, directory: scratchDirectory, split: .test)
        guard d.channels == 3, d.height == 32, d.width == 32, d.classes == 10, d.sampleSize == 3072 else {
            violated("dataset shape \(d.channels)×\(d.height)×\(d.width), \(d.classes) classes")
        }
        guard d.count > 0, d.images.count == d.count * 3072 else {
            violated("\(d.count) labels, \(d.images.count) pixels")
        }
        guard d.labels.allSatisfy({ 0..<10 ~= $0 }) else { violated("label out of range accepted") }
        guard d.images.allSatisfy({ 0...1 ~= $0 }) else { violated("pixel outside [0, 1]") }
        guard d.prefix(1).images.count == 3072 else { violated("prefix(1)") }
        outcome(accepted: "\(d.count) records")
    } catch {
        outcome(error)
        checkNamesFile(error.description, path)
    }
    return 0
}

import DataIO

/// IDX (MNIST, Fashion-MNIST) from bytes, raw or gzip, the way `IDX.read(path:)` reads a file:
/// `Gzip.decompressIfNeeded` then `IDX.parse`.
///
/// Checks: a `DataError` whose description starts with the file name; or dimensions that are
/// non-empty, non-negative, whose product (without overflow) is the data length and at most
/// `IDX.maxElements`, and a header plus data that is exactly the (decompressed) content.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = inputBytes(data, size)
    let file = "fuzz-input.idx"
    do throws(DataError) {
        let content = try Gzip.decompressIfNeeded(bytes, file: file)
        if !Gzip.isGzip(bytes) && content != bytes { violated("raw input changed by decompressIfNeeded") }
        let (dims, values) = try IDX.parse(content, file: file, compressed: Gzip.isGzip(bytes))
        guard !dims.isEmpty, dims.count <= 255, dims.allSatisfy({ $0 >= 0 }) else { violated("dims \(dims)") }
        guard let count = checkedProduct(dims) else { violated("dims \(dims) overflow but were accepted") }
        guard count == values.count, count <= IDX.maxElements else {
            violated("dims \(dims) hold \(count) elements, data has \(values.count)")
        }
        guard 4 + 4 * dims.count + values.count == content.count else {
            violated("header and data do not add up to the \(content.count) bytes of content")
        }
        outcome(accepted: "dims \(dims)")
    } catch {
        outcome(error)
        checkNamesFile(error.description, file)
    }
    return 0
}

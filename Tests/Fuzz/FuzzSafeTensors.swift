import DataIO

/// A safetensors file from bytes: `SafeTensors.decode(_:file:)`, which `SafeTensors.read(from:)`
/// calls on the file's content.
///
/// Each input is decoded as is, then once more with its 8-byte header length set to the JSON
/// object that follows it (the rest is the buffer): without that second pass, almost every
/// mutation of the JSON stops at the length check.
///
/// Checks: a `SafeTensorsError` whose description starts with the file name; or tensors of
/// known dtypes whose shape (product without overflow) times the dtype size is their byte
/// count, whose typed accessors (`floats`, `doubles`, `int64s`) return one value per element or
/// a `wrongDType` error naming the file, and that survive `encoded()` then `decode` unchanged.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var bytes = inputBytes(data, size)
    check(bytes)
    if bytes.count >= 8, let end = jsonObjectEnd(bytes, from: 8) {
        storeLE(UInt64(end - 8), width: 8, into: &bytes, at: 0)
        check(bytes)
    }
    return 0
}

private func check(_ bytes: [UInt8]) {
    let file = "fuzz-input.safetensors"
    do throws(SafeTensorsError) {
        let s = try SafeTensors.decode(bytes, file: file)
        guard s.source == file else { violated("source \(s.source)") }
        for name in s.tensors.keys.sorted() {
            let t = try s.tensor(name)
            guard let elementSize = SafeTensors.dtypeSizes[t.dtype] else { violated("unknown dtype \(t.dtype) accepted") }
            guard t.shape.allSatisfy({ $0 >= 0 }) else { violated("negative dimension in \(t.shape) accepted") }
            let count = t.count   // traps if the shape's product overflows
            guard checkedProduct(t.shape) == count, t.bytes.count == count * elementSize else {
                violated("\(name): \(t.bytes.count) bytes for shape \(t.shape) of \(t.dtype)")
            }
            checkAccessor(name, count) { () throws(SafeTensorsError) in try s.floats(name).count }
            checkAccessor(name, count) { () throws(SafeTensorsError) in try s.doubles(name).count }
            checkAccessor(name, count) { () throws(SafeTensorsError) in try s.int64s(name).count }
        }
        let again: SafeTensors
        do throws(SafeTensorsError) { again = try SafeTensors.decode(s.encoded(), file: file) } catch {
            violated("re-encoded file does not decode: \(error)")
        }
        guard again.tensors == s.tensors, again.metadata == s.metadata else {
            violated("tensors or metadata changed through encoded() and decode")
        }
        outcome(accepted: "\(s.tensors.count) tensors, \(s.metadata.count) metadata entries")
    } catch {
        outcome(error)
        checkNamesFile(error.description, file)
    }
}

/// An accessor returns `count` values, or a wrong-dtype error naming the file.
private func checkAccessor(_ name: String, _ count: Int, _ values: () throws(SafeTensorsError) -> Int) {
    do throws(SafeTensorsError) {
        let n = try values()
        guard n == count else { violated("\(name): accessor returned \(n) values for \(count) elements") }
    } catch {
        guard case .wrongDType = error else { violated("\(name): accessor threw \(error)") }
        checkNamesFile(error.description, "fuzz-input.safetensors")
    }
}

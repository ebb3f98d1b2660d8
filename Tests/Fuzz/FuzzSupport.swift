#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Shared by every fuzz target (each binary is this file plus one `Fuzz<Reader>.swift`).
///
/// A target reports a broken invariant with `violated(_:)`, which traps: libFuzzer treats the
/// trap like any crash and saves the input as `crash-<sha1>`. Swift's own traps (overflow,
/// index out of range, a failed precondition) inside a reader are caught the same way.

/// Stops the run on a broken invariant, printing what broke first.
func violated(_ message: String) -> Never {
    fatalError("fuzz invariant violated: \(message)")
}

/// The fuzzer's bytes as an array (copied: the readers take `[UInt8]`).
func inputBytes(_ data: UnsafePointer<UInt8>, _ size: Int) -> [UInt8] {
    Array(UnsafeBufferPointer(start: data, count: size))
}

/// An error must say which file and what is wrong: a non-empty description that begins with
/// `file + ": "` (every DataIO error is worded that way, except the count mismatch between an
/// images file and a labels file, which names both and is checked with `contains`).
func checkNamesFile(_ description: String, _ files: String..., prefix: Bool = true) {
    guard !description.isEmpty else { violated("empty error description") }
    for file in files {
        if prefix ? description.hasPrefix(file + ": ") : description.contains(file) { return }
    }
    violated("error does not name \(files.joined(separator: " or ")): \"\(description)\"")
}

/// With FUZZ_VERBOSE=1 in the environment, each input's outcome is printed as one line
/// ("FUZZ-OUTCOME <error case> <description>" or "FUZZ-OUTCOME accepted <summary>"), to sort a
/// corpus by what each input exercises: `FUZZ_VERBOSE=1 .build-fuzz/fuzz-idx <files...>`.
let verbose = getenv("FUZZ_VERBOSE").map { String(cString: $0) == "1" } ?? false

func outcome(accepted summary: @autoclosure () -> String) {
    if verbose { print("FUZZ-OUTCOME accepted \(summary())") }
}

func outcome(_ error: some Error & CustomStringConvertible) {
    if verbose {
        let kind = Mirror(reflecting: error).children.first?.label ?? "\(type(of: error))"
        print("FUZZ-OUTCOME \(kind) \(error.description.split(separator: "\n").joined(separator: " "))")
    }
}

/// A scratch directory of this process under /dev/shm (or $TMPDIR, or /tmp), for the readers
/// whose only entry point takes a path. Created once, reused by every input (whose files are
/// removed after each run), removed at exit.
let scratchDirectory: String = {
    let base: String
    if access("/dev/shm", W_OK) == 0 {
        base = "/dev/shm"
    } else if let tmp = getenv("TMPDIR") {
        base = String(cString: tmp)
    } else {
        base = "/tmp"
    }
    let path = "\(base)/dist-train-fuzz-\(getpid())"
    if mkdir(path, 0o700) != 0 && errno != EEXIST { violated("cannot create \(path): errno \(errno)") }
    atexit { _ = rmdir(scratchDirectory) }
    return path
}()

/// Replaces the file at `path` with `bytes` (or removes it when `bytes` is nil).
func writeScratch(_ bytes: [UInt8]?, to path: String) {
    _ = unlink(path)
    guard let bytes else { return }
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    if fd < 0 { violated("cannot create \(path): errno \(errno)") }
    defer { _ = close(fd) }
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
        if n <= 0 { violated("cannot write \(path): errno \(errno)") }
        done += n
    }
}

/// Element count of a shape with overflow reported as nil (the readers must never accept a
/// shape whose running product overflows, even if a later dimension is 0).
func checkedProduct(_ dims: [Int]) -> Int? {
    var product = 1
    for d in dims {
        let (p, overflow) = product.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        product = p
    }
    return product
}

/// The index just past the JSON object that starts (after spaces) at `start`, found by
/// matching braces outside strings; nil if there is none. The checkpoint and safetensors
/// targets use it to give the fuzzer a second chance at each input with the header length
/// field made consistent, since a mutation of the JSON almost always breaks that length first.
func jsonObjectEnd(_ bytes: [UInt8], from start: Int) -> Int? {
    var i = start
    while i < bytes.count, bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\n") { i += 1 }
    guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { return nil }
    var depth = 0, inString = false, escaped = false
    while i < bytes.count {
        let b = bytes[i]
        if inString {
            if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
        } else if b == UInt8(ascii: "\"") {
            inString = true
        } else if b == UInt8(ascii: "{") || b == UInt8(ascii: "[") {
            depth += 1
        } else if b == UInt8(ascii: "}") || b == UInt8(ascii: "]") {
            depth -= 1
            if depth == 0 { return i + 1 }
        }
        i += 1
    }
    return nil
}

/// Overwrites `bytes[offset..<offset+width]` with `value`, little-endian.
func storeLE(_ value: UInt64, width: Int, into bytes: inout [UInt8], at offset: Int) {
    for k in 0..<width { bytes[offset + k] = UInt8(truncatingIfNeeded: value >> UInt64(8 * k)) }
}

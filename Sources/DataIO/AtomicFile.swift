#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Crash-safe whole-file replacement: readers see either the old content or the new, never a
/// torn mix, even if the process or the machine dies mid-write.
///
/// Steps: write to `.<basename>.tmp-<pid>-<random>` in the target's directory (same file
/// system, so the rename is atomic), `fsync` it, `rename` it over the target, then `fsync` the
/// directory so the rename itself is durable. Any failure before the rename removes the temp
/// file and throws a `FileError` naming the path, the failing call and the `strerror` text.
/// New files get mode 0644 (minus the umask).
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws(FileError) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        guard !base.isEmpty else { throw FileError(path: path, operation: "write (path names a directory)", code: EISDIR) }
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let temp = (slash == nil ? "" : directory == "/" ? "/" : directory + "/")
            + ".\(base).tmp-\(getpid())-\(suffix)"

        let fd = retryOnEINTR { open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        if fd < 0 { throw FileError(path: temp, operation: "open (create temporary file)", code: errno) }
        do throws(FileError) {
            try writeAll(fd, bytes, path: temp)
            if fsync(fd) != 0 { throw FileError(path: temp, operation: "fsync", code: errno) }
        } catch {
            _ = close(fd)
            _ = unlink(temp)
            throw error
        }
        if close(fd) != 0 {
            let code = errno
            _ = unlink(temp)
            throw FileError(path: temp, operation: "close", code: code)
        }
        if rename(temp, path) != 0 {
            let code = errno
            _ = unlink(temp)
            throw FileError(path: path, operation: "rename from \(temp)", code: code)
        }
        try syncDirectory(directory)
    }

    /// Writes the UTF-8 bytes of `string`.
    public static func write(_ string: String, to path: String) throws(FileError) {
        try write(Array(string.utf8), to: path)
    }

    /// write(2) until every byte is out: it may write fewer bytes than asked, or be interrupted.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(FileError) {
        var failure: Int32 = 0
        bytes.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = posixWrite(fd, buffer.baseAddress! + done, buffer.count - done)
                if n > 0 { done += n; continue }
                if n < 0 && errno == EINTR { continue }
                failure = n < 0 ? errno : EIO   // 0 bytes written for a non-empty request: give up
                return
            }
        }
        if failure != 0 { throw FileError(path: path, operation: "write", code: failure) }
    }

    /// Makes a rename in `directory` durable. File systems that cannot fsync a directory
    /// (EINVAL, ENOTSUP) are accepted: there is nothing more we can do there.
    static func syncDirectory(_ directory: String) throws(FileError) {
        let fd = retryOnEINTR { open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        if fd < 0 { throw FileError(path: directory, operation: "open directory for fsync", code: errno) }
        defer { _ = close(fd) }
        if fsync(fd) != 0 && errno != EINVAL && errno != ENOTSUP {
            throw FileError(path: directory, operation: "fsync directory", code: errno)
        }
    }
}

/// write(2), named apart from `AtomicFile.write` (which would shadow it inside the enum).
@inline(__always)
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}

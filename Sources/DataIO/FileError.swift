#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call on a file: which file, which operation, and the C `errno`.
///
/// The description reads like `"/runs/a/ckpt.bin: rename failed: No such file or directory (errno 2)"`,
/// so the user knows both where and why.
public struct FileError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    public var operation: String
    public var code: Int32

    public init(path: String, operation: String, code: Int32) {
        self.path = path
        self.operation = operation
        self.code = code
    }

    /// The C library's text for `code` (strerror).
    public var reason: String { String(cString: strerror(code)) }

    public var description: String { "\(path): \(operation) failed: \(reason) (errno \(code))" }
}

/// The one place where DataIO reads files through the C library.
enum POSIXFile {
    /// Reads the whole file. Fails with `EFBIG` when it holds more than `limit` bytes, so a huge
    /// or wrong file is refused before its memory is allocated.
    static func readAll(path: String, limit: Int) throws(FileError) -> [UInt8] {
        let fd = retryOnEINTR { open(path, O_RDONLY | O_CLOEXEC) }
        if fd < 0 { throw FileError(path: path, operation: "open", code: errno) }
        defer { _ = close(fd) }

        var info = stat()
        if fstat(fd, &info) != 0 { throw FileError(path: path, operation: "stat", code: errno) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw FileError(path: path, operation: "read", code: EISDIR) }
        let size = Int(info.st_size)
        if size > limit {
            throw FileError(path: path, operation: "read (file of \(size) bytes exceeds limit \(limit))", code: EFBIG)
        }

        // Regular files: read exactly the stat size (a file that shrinks meanwhile gives fewer).
        var failure: Int32 = 0
        let bytes = [UInt8](unsafeUninitializedCapacity: max(size, 0)) { (buffer, initialized) in
            var done = 0
            while done < size {
                let n = read(fd, buffer.baseAddress! + done, size - done)
                if n > 0 { done += n; continue }
                if n == 0 { break }
                if errno == EINTR { continue }
                failure = errno
                break
            }
            initialized = done
        }
        if failure != 0 { throw FileError(path: path, operation: "read", code: failure) }
        return bytes
    }

    /// True when `path` names an existing file (of any kind).
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }
}

/// Calls `body` again while it fails with EINTR (interrupted by a signal before doing anything).
@inline(__always)
func retryOnEINTR<T: BinaryInteger>(_ body: () -> T) -> T {
    while true {
        let result = body()
        if result >= 0 || errno != EINTR { return result }
    }
}

extension DataError {
    /// Maps a low-level read failure to the dataset error a user can act on.
    init(_ error: FileError) {
        switch error.code {
        case ENOENT: self = .missingFile(path: error.path)
        case EFBIG: self = .unreadable(path: error.path, reason: error.operation)
        default: self = .unreadable(path: error.path, reason: "\(error.operation) failed: \(error.reason)")
        }
    }
}

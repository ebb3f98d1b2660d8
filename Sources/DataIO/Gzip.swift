import CZlib

/// Whole-file gunzip through zlib, for dataset files that are shipped either raw or as `.gz`.
///
/// A file is treated as gzip when it begins with the gzip magic `1f 8b`; otherwise its bytes are
/// returned unchanged (IDX files begin with `00 00`, CIFAR-10 batches with a label 0...9, so
/// neither is mistaken for gzip). Decompression is strict: a stream that does not reach its end
/// marker and CRC (`Z_STREAM_END`) is an error, never a silently short result, because a short
/// dataset would train on garbage without anyone noticing. Concatenated gzip members (what `cat
/// a.gz b.gz` produces, valid per RFC 1952) are decompressed in order; any other trailing bytes
/// are an error.
public enum Gzip {
    /// Default cap on file and decompressed sizes: 2 GiB, far above any dataset used here and a
    /// guard against decompression bombs and wrong files.
    public static let defaultLimit = 1 << 31

    /// True when `bytes` begins with the gzip magic `1f 8b`.
    public static func isGzip(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    /// Reads `path` and gunzips it if it is gzip; raw content is returned as read.
    public static func readFile(path: String, limit: Int = defaultLimit) throws(DataError) -> [UInt8] {
        try readFileNotingCompression(path: path, limit: limit).bytes
    }

    /// Gunzips `bytes` if they are gzip, else returns them. `file` names the source in errors.
    public static func decompressIfNeeded(_ bytes: [UInt8], file: String,
                                          limit: Int = defaultLimit) throws(DataError) -> [UInt8] {
        isGzip(bytes) ? try decompress(bytes, file: file, limit: limit) : bytes
    }

    /// Like `readFile`, also telling whether the file was compressed (for error messages).
    static func readFileNotingCompression(path: String, limit: Int) throws(DataError)
        -> (bytes: [UInt8], compressed: Bool)
    {
        let raw: [UInt8]
        do throws(FileError) { raw = try POSIXFile.readAll(path: path, limit: limit) } catch { throw DataError(error) }
        if !isGzip(raw) { return (raw, false) }
        return (try decompress(raw, file: path, limit: limit), true)
    }

    /// Decompresses a complete gzip file (one or more members) held in memory.
    public static func decompress(_ input: [UInt8], file: String,
                                  limit: Int = defaultLimit) throws(DataError) -> [UInt8] {
        guard isGzip(input) else {
            throw .corruptGzip(file: file, reason: "does not begin with the gzip magic 1f 8b")
        }
        var stream = z_stream()
        // windowBits 15 + 16: accept a gzip wrapper only (header, CRC-32 and length are checked).
        let initStatus = inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard initStatus == Z_OK else {
            throw .corruptGzip(file: file, reason: "zlib inflateInit2 failed with status \(initStatus)")
        }
        defer { inflateEnd(&stream) }

        // First guess at the size: ISIZE (the last member's length mod 2^32), bounded by the
        // deflate worst-case ratio so a damaged trailer cannot make us allocate gigabytes.
        let n = input.count
        let isize = n >= 4 ? Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16
            | Int(input[n - 1]) << 24 : 0
        let ratioBound = n > limit / 1032 ? limit : n * 1032
        var output = [UInt8](repeating: 0, count: min(max(limit, 1), max(1 << 16, min(isize, ratioBound))))
        var consumed = 0, produced = 0

        while true {
            if produced == output.count {
                if output.count >= limit { throw .tooLarge(file: file, limit: limit) }
                let grown = min(limit, output.count * 2)
                output.append(contentsOf: repeatElement(0, count: grown - output.count))
            }
            let inChunk = min(n - consumed, Int(UInt32.max))
            let outChunk = min(output.count - produced, Int(UInt32.max))
            let status: Int32 = input.withUnsafeBufferPointer { source in
                output.withUnsafeMutableBufferPointer { target in
                    stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress! + consumed)
                    stream.avail_in = UInt32(inChunk)
                    stream.next_out = target.baseAddress! + produced
                    stream.avail_out = UInt32(outChunk)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    consumed += inChunk - Int(stream.avail_in)
                    produced += outChunk - Int(stream.avail_out)
                    return status
                }
            }
            let progressed = inChunk != Int(stream.avail_in) || outChunk != Int(stream.avail_out)
            switch status {
            case Z_STREAM_END:
                if consumed == n {
                    output.removeLast(output.count - produced)
                    return output
                }
                // Another member follows, or junk does.
                guard n - consumed >= 2, input[consumed] == 0x1f, input[consumed + 1] == 0x8b else {
                    throw .corruptGzip(file: file,
                                       reason: "\(n - consumed) bytes of trailing data after the gzip stream")
                }
                inflateReset(&stream)
            case Z_OK where progressed:
                continue
            case Z_OK, Z_BUF_ERROR:
                if consumed == n {
                    throw .corruptGzip(file: file, reason: "truncated: the stream ends after \(n) compressed "
                        + "bytes (\(produced) decompressed) without its end marker and checksum")
                }
                if produced < output.count && !progressed {
                    throw .corruptGzip(file: file, reason: "zlib made no progress at compressed offset \(consumed)")
                }
            case Z_MEM_ERROR:
                throw .unreadable(path: file, reason: "out of memory while decompressing")
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                throw .corruptGzip(file: file, reason: "\(message) (at compressed offset \(consumed))")
            }
        }
    }
}

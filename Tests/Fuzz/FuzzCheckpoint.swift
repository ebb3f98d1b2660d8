import CZlib
import DataIO

/// A training checkpoint from bytes: `Checkpoint.decode(_:file:)`, which `Checkpoint.read(from:)`
/// calls on the file's content.
///
/// Each input is decoded as is, then once more with its header length set to the JSON object
/// that follows the prefix and its trailing CRC-32 recomputed: without that second pass, almost
/// every mutation stops at the length or checksum check and the JSON header and tensor paths
/// behind them are barely reached.
///
/// Checks: a `CheckpointError` whose description starts with the file name; or a checkpoint
/// with a non-negative position and as many momentum values as parameters, that survives
/// `encoded()` then `decode` unchanged (floats compared bit for bit, so NaNs count as equal).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var bytes = inputBytes(data, size)
    check(bytes)
    if bytes.count >= 20, let end = jsonObjectEnd(bytes, from: 16), end + 4 <= bytes.count {
        storeLE(UInt64(end - 16), width: 4, into: &bytes, at: 12)
        let n = bytes.count - 4
        let crc = bytes.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt(n)) }
        storeLE(UInt64(crc), width: 4, into: &bytes, at: n)
        check(bytes)
    }
    return 0
}

private func check(_ bytes: [UInt8]) {
    let file = "fuzz-input.ckpt"
    do throws(CheckpointError) {
        let c = try Checkpoint.decode(bytes, file: file)
        guard c.epoch >= 0, c.stepInEpoch >= 0, c.globalStep >= 0 else { violated("negative position accepted") }
        guard c.parameters.count == c.momentum.count else { violated("parameters and momentum differ in count") }
        let again: Checkpoint
        do throws(CheckpointError) { again = try Checkpoint.decode(c.encoded(), file: file) } catch {
            violated("re-encoded checkpoint does not decode: \(error)")
        }
        guard again.configJSON == c.configJSON, again.extra == c.extra, again.epoch == c.epoch,
              again.stepInEpoch == c.stepInEpoch, again.globalStep == c.globalStep,
              again.parameters.map(\.bitPattern) == c.parameters.map(\.bitPattern),
              again.momentum.map(\.bitPattern) == c.momentum.map(\.bitPattern) else {
            violated("checkpoint changed through encoded() and decode")
        }
        outcome(accepted: "\(c.parameters.count) parameters, epoch \(c.epoch)")
    } catch {
        outcome(error)
        checkNamesFile(error.description, file)
    }
}

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Rank 0's progress display: one line rewritten in place on a terminal, plain
/// periodic lines otherwise (batch logs under SLURM). Under mpirun a rank's stdout is a
/// pty even when the job's output goes to a file, so launched ranks always print lines.
public struct Progress {
    public let interactive: Bool
    public let every: Int
    private var lastWidth = 0

    public init(stepsPerEpoch: Int, every: Int, launchedByMPI: Bool) {
        interactive = isatty(STDOUT_FILENO) != 0 && !launchedByMPI
        self.every = every > 0 ? every : (interactive ? 1 : max(1, stepsPerEpoch / 5))
    }

    public mutating func update(step: Int, _ text: @autoclosure () -> String) {
        guard step % every == 0 else { return }
        var line = text()
        if interactive {
            // A line longer than the terminal wraps, and "\r" would then rewrite only its
            // last row: cut it to the width (unknown, 0, when the pty has no size).
            if let columns = Self.terminalColumns(), line.count >= columns { line = String(line.prefix(columns - 1)) }
            let pad = max(0, lastWidth - line.count)
            print("\r" + line + String(repeating: " ", count: pad), terminator: "")
            fflush(nil)
            lastWidth = line.count
        } else {
            print(line)
            fflush(nil)
        }
    }

    /// The width of the terminal on stdout, when it has one.
    static func terminalColumns() -> Int? {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 1 else { return nil }
        return Int(size.ws_col)
    }

    /// Ends the in-place line before a normal line is printed.
    public mutating func finishLine() {
        if interactive && lastWidth > 0 { print("\r" + String(repeating: " ", count: lastWidth) + "\r", terminator: "") }
        lastWidth = 0
    }
}

func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "--:--" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60)
                     : String(format: "%02d:%02d", s / 60, s % 60)
}

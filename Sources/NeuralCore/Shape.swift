/// Per-sample shape of an activation: channels × height × width.
/// A flat vector of n features is `Shape(n, 1, 1)`.
public struct Shape: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var channels: Int
    public var height: Int
    public var width: Int
    public init(_ channels: Int, _ height: Int, _ width: Int) {
        self.channels = channels; self.height = height; self.width = width
    }
    public var count: Int { channels * height * width }
    public var description: String { "\(channels)×\(height)×\(width)" }
}

/// Memory order of one sample. Network inputs are `chw` (PyTorch's NCHW); convolutions
/// write `hwc` (NHWC) so that a whole batch is one GEMM. `Flatten` restores PyTorch's
/// (C, H, W) feature order, so Linear weights keep PyTorch's meaning.
public enum Layout: Sendable, Equatable {
    case chw, hwc

    /// Element strides (channel, row, column) within one sample.
    public func strides(_ s: Shape) -> (c: Int, h: Int, w: Int) {
        switch self {
        case .chw: return (s.height * s.width, s.width, 1)
        case .hwc: return (1, s.width * s.channels, s.channels)
        }
    }
}

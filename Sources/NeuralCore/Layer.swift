/// One layer of a sequential network: a `forward`/`backward` pair over a batch.
///
/// Parameters and their gradients live in the network's two flat buffers; `bind`
/// hands each layer its slice. Forward caches what backward needs (in the layer's own
/// workspaces, sized by `reserve`). Backward *accumulates* parameter gradients (`+=`)
/// when `parameterGradients` is true, and *overwrites* `dx` when it is non-nil.
public protocol Layer: AnyObject {
    var name: String { get }
    var inputShape: Shape { get }
    var outputShape: Shape { get }
    var inputLayout: Layout { get }
    var outputLayout: Layout { get }
    /// Number of parameters; the layer's slice is laid out as PyTorch's tensors in order
    /// (weight then bias), each in PyTorch's memory layout.
    var parameterCount: Int { get }
    /// PyTorch-style tensor shapes of the layer's parameters, in slice order.
    var parameterShapes: [(suffix: String, shape: [Int])] { get }
    /// Fan-in used by PyTorch's default initialisation (0 for parameter-free layers).
    var fanIn: Int { get }
    /// Bytes of the layer's own workspaces (unrolled patches, argmax indices …).
    var workspaceBytes: Int { get }
    /// True when the output is the input unchanged, value for value (a Flatten that only
    /// renames the shape): the network then passes the input's buffer on instead of copying it,
    /// and its backward pass passes dL/dy on as dL/dx.
    var isIdentity: Bool { get }

    func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>)
    /// Sizes workspaces for batches of up to `batch` samples.
    func reserve(batch: Int)
    /// x: (batch, inputShape) → y: (batch, outputShape).
    func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int)
    /// Given dL/dy, accumulates dL/dθ (if asked) and writes dL/dx (if `dx` is non-nil).
    func backward(x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                  dx: UnsafeMutablePointer<Float>?, batch: Int, parameterGradients: Bool)
}

/// A layer that can apply the ReLU after it in its own output pass. `Network` sets
/// `appliesReLU` when a ReLU follows (and marks that ReLU absorbed, an identity layer): forward
/// then writes max(output, 0), and backward takes dL/d(ReLU output) and masks it with y > 0
/// itself, y being the rectified output. The results are bitwise those of the two layers apart;
/// one elementwise pass and one activation buffer fewer.
public protocol ReLUFusable: Layer {
    var appliesReLU: Bool { get set }
}

extension Layer {
    public var parameterCount: Int { 0 }
    public var parameterShapes: [(suffix: String, shape: [Int])] { [] }
    public var fanIn: Int { 0 }
    public var workspaceBytes: Int { 0 }
    public var isIdentity: Bool { false }
    public var outputLayout: Layout { inputLayout }
    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>) {}
    public func reserve(batch: Int) {}
}

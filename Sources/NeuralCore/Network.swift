#if canImport(Glibc)
import Glibc
#endif

/// A sequential network whose parameters and gradients each live in one flat buffer
/// (so one allreduce moves all gradients), with activations allocated once per batch
/// capacity and reused.
///
/// Layers are listed exactly as in the equivalent PyTorch `nn.Sequential`, so the
/// parameter names are PyTorch's state_dict keys (`"1.weight"`, `"1.bias"`, …).
public final class Network {
    public let layers: [any Layer]
    public let inputShape: Shape
    public let classes: Int
    public let parameterCount: Int
    public let parameters: FloatBuffer
    /// `parameterCount` gradients followed by `tailSlots` spare floats, so a trainer can
    /// carry per-step scalars (loss, flags) in the same allreduce as the gradients.
    public let gradients: FloatBuffer
    public static let tailSlots = 4
    /// Offset of each layer's slice in `parameters`.
    public let parameterOffsets: [Int]
    /// Index of the first layer with parameters (0 if none has any).
    private let firstParameterLayer: Int
    /// Layers whose buffer is their input's (`Layer.isIdentity`, but never the last: the
    /// logits get their own buffer).
    private let passesInput: [Bool]

    private var activations: [FloatBuffer] = []
    /// Each layer's input in the last forward pass: the previous layer's activations, or, past
    /// identity layers, the buffer they passed on.
    private var layerInputs: [UnsafePointer<Float>] = []
    private var gradientA = FloatBuffer(count: 0)
    private var gradientB = FloatBuffer(count: 0)
    public private(set) var capacity = 0
    /// When set, each layer's forward and backward time is added to it (benchmarks).
    public var layerTimes: LayerTimes?
    /// When set (benchmarks), every forward and backward pass adds its duration on this clock to
    /// `forwardSeconds` and `backwardSeconds`.
    public var passClock: clockid_t?
    public private(set) var forwardSeconds = 0.0, backwardSeconds = 0.0
    private func passNow() -> Double { passClock.map(clockSeconds) ?? 0 }
    private var batch = 0

    /// `fuseReLU`: a ReLU after a `ReLUFusable` layer (Linear, Conv2d) is applied by that layer
    /// in its own output pass, and the ReLU becomes an identity layer. Bitwise the same results.
    public init(layers: [any Layer], fuseReLU: Bool = true) {
        precondition(!layers.isEmpty)
        for (a, b) in zip(layers, layers.dropFirst()) {
            precondition(a.outputShape == b.inputShape && a.outputLayout == b.inputLayout,
                         "\(a.name) → \(b.name): shape \(a.outputShape) does not match \(b.inputShape)")
        }
        self.layers = layers
        inputShape = layers[0].inputShape
        classes = layers.last!.outputShape.count
        var offsets: [Int] = [], total = 0
        for l in layers { offsets.append(total); total += l.parameterCount }
        parameterOffsets = offsets
        parameterCount = total
        firstParameterLayer = layers.firstIndex { $0.parameterCount > 0 } ?? 0
        // Never the last layer's ReLU: the logits keep their own buffer.
        for i in layers.indices.dropLast(2) {
            guard let relu = layers[i + 1] as? ReLU, let fusing = layers[i] as? any ReLUFusable else { continue }
            fusing.appliesReLU = fuseReLU
            relu.isAbsorbed = fuseReLU
        }
        passesInput = layers.indices.map { layers[$0].isIdentity && $0 < layers.count - 1 }
        parameters = FloatBuffer(count: total)
        gradients = FloatBuffer(count: total + Network.tailSlots)
        for (l, o) in zip(layers, offsets) {
            l.bind(parameters: parameters.pointer + o, gradients: gradients.pointer + o)
        }
    }

    /// Named parameter tensors in PyTorch's state_dict order and layout.
    public var namedParameters: [(name: String, shape: [Int], offset: Int)] {
        var out: [(String, [Int], Int)] = []
        for (i, l) in layers.enumerated() {
            var o = parameterOffsets[i]
            for (suffix, shape) in l.parameterShapes {
                out.append(("\(i).\(suffix)", shape, o))
                o += shape.reduce(1, *)
            }
        }
        return out
    }

    /// PyTorch's default initialisation: weights and biases ~ U(−1/√fan_in, 1/√fan_in).
    public func initialize(seed: UInt64) {
        for (i, l) in layers.enumerated() where l.parameterCount > 0 {
            var rng = KeyedRandom(seed: seed, keys: 0x1417, UInt64(i))
            let bound = 1 / Float(l.fanIn).squareRoot()
            let p = parameters.pointer + parameterOffsets[i]
            for j in 0..<l.parameterCount { p[j] = rng.uniform(bound) }
        }
    }

    /// Sizes every workspace for batches of up to `batch` samples; only grows.
    public func reserve(batch: Int) {
        guard batch > capacity else { return }
        activations = layers.indices.map { FloatBuffer(count: passesInput[$0] ? 0 : batch * layers[$0].outputShape.count) }
        let widest = layers.map { max($0.inputShape.count, $0.outputShape.count) }.max()!
        gradientA = FloatBuffer(count: batch * widest)
        gradientB = FloatBuffer(count: batch * widest)
        for l in layers { l.reserve(batch: batch) }
        capacity = batch
    }

    /// x: (batch, inputShape) in NCHW → logits (batch, classes), valid until the next forward.
    /// `x` must stay valid until `backward` has run.
    @discardableResult
    public func forward(_ x: UnsafePointer<Float>, batch: Int) -> UnsafeMutablePointer<Float> {
        reserve(batch: batch)
        self.batch = batch
        let start = passNow()
        defer { if passClock != nil { forwardSeconds += passNow() - start } }
        var cur = x
        layerInputs.removeAll(keepingCapacity: true)
        for (i, (l, out)) in zip(layers, activations).enumerated() {
            layerInputs.append(cur)
            if passesInput[i] { continue }
            let t0 = layerTimes?.now() ?? 0
            l.forward(cur, out.pointer, batch: batch)
            layerTimes?.add(forward: i, since: t0)
            cur = UnsafePointer(out.pointer)
        }
        return activations.last!.pointer
    }

    public var logits: UnsafeMutablePointer<Float> { activations.last!.pointer }

    /// Back-propagates dL/dlogits of the last forward. Accumulates into `gradients` when
    /// `parameterGradients`; writes dL/dx into `inputGradient` when given. `layerDone(i)` runs
    /// after layer i's backward (layers go last to first), so a trainer can start reducing the
    /// gradients of the layers already done while earlier layers are still computed.
    /// `samples`, when given, back-propagates only those samples of the forward pass (every layer
    /// is a function of its own sample's x, y and dy): `dLogits` and `inputGradient` then hold
    /// just those rows. Samples whose dL/dlogits is zero add nothing, so a trainer may skip them.
    public func backward(_ dLogits: UnsafePointer<Float>, parameterGradients: Bool,
                         inputGradient: UnsafeMutablePointer<Float>? = nil, samples: Range<Int>? = nil,
                         layerDone: ((Int) -> Void)? = nil) {
        precondition(!layerInputs.isEmpty, "backward before forward")
        let range = samples ?? 0..<batch
        precondition(range.lowerBound >= 0 && range.upperBound <= batch, "samples \(range) outside the batch of \(batch)")
        let first = range.lowerBound, count = range.count
        if parameterGradients { gradientsAreCleared = false }
        let start = passNow()
        defer { if passClock != nil { backwardSeconds += passNow() - start } }
        var dy = dLogits
        var useA = true
        // Without an input gradient, nothing below the first layer with parameters needs dL/dx
        // (for the mlp, Linear(784, 256) would otherwise compute one for Flatten).
        let lowest = inputGradient == nil ? firstParameterLayer : 0
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            let l = layers[i]
            // An identity layer passes dy on as its dx.
            guard i >= lowest && !passesInput[i] else { layerDone?(i); continue }
            let x = layerInputs[i] + first * l.inputShape.count
            // dL/dx goes to the caller's buffer from the lowest layer that computes one.
            let bottom = passesInput[lowest..<i].allSatisfy { $0 }
            let dx: UnsafeMutablePointer<Float>? = bottom ? inputGradient : (useA ? gradientA.pointer : gradientB.pointer)
            let t0 = layerTimes?.now() ?? 0
            l.backward(x: x, y: activations[i].pointer + first * l.outputShape.count, dy: dy, dx: dx, batch: count,
                       parameterGradients: parameterGradients)
            layerTimes?.add(backward: i, parameters: parameterGradients, since: t0)
            if let dx { dy = UnsafePointer(dx) }
            useA.toggle()
            layerDone?(i)
        }
    }

    /// Zeroes the gradients (and the tail slots after them) for a new step: only the tail when
    /// the optimizer step since the last backward pass has cleared the rest (`gradientsCleared`).
    public func zeroGradients() {
        if gradientsAreCleared {
            (gradients.pointer + parameterCount).update(repeating: 0, count: gradients.count - parameterCount)
        } else {
            gradients.zero()
        }
        gradientsAreCleared = false
    }

    /// True between an optimizer step that zeroed the parameters' gradients in its own pass and
    /// the next `zeroGradients` or backward pass. Whoever writes `gradients` directly in between
    /// must not leave it true (`zeroGradients` would keep those values).
    public private(set) var gradientsAreCleared = false

    /// The optimizer has zeroed the gradients of every parameter (not the tail slots).
    public func gradientsCleared() { gradientsAreCleared = true }

    /// Bytes of the buffers the network has allocated: parameters and gradients, and the
    /// activations and backward buffers for the current batch capacity (layers' own
    /// workspaces, such as unrolled convolution patches, included).
    public var allocatedBytes: (parameters: Int, activations: Int) {
        let p = (parameters.count + gradients.count) * 4
        let acts = (activations.reduce(0) { $0 + $1.count } + gradientA.count + gradientB.count) * 4
        let own = layers.reduce(0) { $0 + $1.workspaceBytes }
        return (p, acts + own)
    }
}


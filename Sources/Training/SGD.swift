import NeuralCore

/// SGD with momentum and L2 weight decay, as `torch.optim.SGD` (dampening 0, no Nesterov):
///   g ← g + λ·θ;  v ← μ·v + g;  θ ← θ − η·v
public final class SGD {
    public var momentum: Float
    public var weightDecay: Float
    public let velocity: FloatBuffer

    public init(parameterCount: Int, momentum: Float, weightDecay: Float) {
        self.momentum = momentum
        self.weightDecay = weightDecay
        velocity = FloatBuffer(count: parameterCount)
    }

    /// True when the update `step` would leave every parameter finite (checked
    /// without writing, so a step can still be skipped).
    public func staysFinite(parameters: UnsafePointer<Float>, gradients: UnsafePointer<Float>, learningRate: Float) -> Bool {
        let v = velocity.pointer
        var probe: Float = 0
        for i in 0..<velocity.count {
            let g = gradients[i] + weightDecay * parameters[i]
            probe += (parameters[i] - learningRate * (momentum * v[i] + g)) * 0
        }
        return probe.isFinite
    }

    public func step(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, learningRate: Float) {
        let v = velocity.pointer
        for i in 0..<velocity.count {
            let g = gradients[i] + weightDecay * parameters[i]
            v[i] = momentum * v[i] + g
            parameters[i] -= learningRate * v[i]
        }
    }
}

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

    public func step(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, learningRate: Float) {
        let v = velocity.pointer
        for i in 0..<velocity.count {
            let g = gradients[i] + weightDecay * parameters[i]
            v[i] = momentum * v[i] + g
            parameters[i] -= learningRate * v[i]
        }
    }
}

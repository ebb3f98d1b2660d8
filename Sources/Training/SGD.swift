import CKernels
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
        dtk_sgd_stays_finite(parameters, gradients, velocity.pointer, velocity.count, learningRate, momentum, weightDecay) != 0
    }

    public func step(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, learningRate: Float) {
        dtk_sgd_step(parameters, gradients, velocity.pointer, velocity.count, learningRate, momentum, weightDecay)
    }
}

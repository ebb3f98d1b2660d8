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

    /// The largest |v| after the last update, or nil when not known (a velocity loaded from a
    /// checkpoint, or written through `velocity` directly: call `velocityChanged()`).
    public private(set) var velocityMagnitude: Float? = 0

    /// Zeroes the velocity (a fresh run).
    public func resetVelocity() {
        velocity.zero()
        velocityMagnitude = 0
    }

    /// After writing `velocity` directly (a checkpoint's momentum buffer).
    public func velocityChanged() { velocityMagnitude = nil }

    /// True when the update `step` would leave every parameter finite (checked
    /// without writing, so a step can still be skipped).
    public func staysFinite(parameters: UnsafePointer<Float>, gradients: UnsafePointer<Float>, learningRate: Float) -> Bool {
        dtk_sgd_stays_finite(parameters, gradients, velocity.pointer, velocity.count, learningRate, momentum, weightDecay) != 0
    }

    /// The largest |θ| written by the last `step` (NaN if one is NaN): a trainer that writes the
    /// parameters only through `step` knows their magnitude for the next step without a scan.
    public private(set) var parameterMagnitude: Float = 0

    public func step(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, learningRate: Float) {
        velocityMagnitude = dtk_sgd_step(parameters, UnsafeMutablePointer(mutating: gradients), velocity.pointer,
                                         velocity.count, learningRate, momentum, weightDecay, 0, &parameterMagnitude)
    }

    /// Applies the update if it leaves every parameter finite and returns true; otherwise writes
    /// nothing and returns false. Given the largest magnitudes of the parameters and of the
    /// gradients (or a bound on them), `updateIsBounded` proves most updates finite without
    /// `staysFinite`'s pass over parameters, gradients and velocity; it runs only when the bound
    /// cannot.
    public func stepIfFinite(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, learningRate: Float,
                             parameterMagnitude: Float? = nil, gradientMagnitude: Float? = nil) -> Bool {
        guard staysFinite(parameters: parameters, gradients: gradients, learningRate: learningRate,
                          parameterMagnitude: parameterMagnitude, gradientMagnitude: gradientMagnitude) else { return false }
        step(parameters: parameters, gradients: gradients, learningRate: learningRate)
        return true
    }

    /// The bound when it proves the update finite, else the pass of `staysFinite`.
    private func staysFinite(parameters: UnsafePointer<Float>, gradients: UnsafePointer<Float>, learningRate: Float,
                             parameterMagnitude: Float?, gradientMagnitude: Float?) -> Bool {
        if let p = parameterMagnitude, let g = gradientMagnitude, let v = velocityMagnitude,
           Self.updateIsBounded(parameters: p, gradients: g, velocity: v, learningRate: learningRate,
                                momentum: momentum, weightDecay: weightDecay) {
            return true
        }
        return staysFinite(parameters: parameters, gradients: gradients, learningRate: learningRate)
    }

    /// `stepIfFinite` on a network's parameters and gradients. An update that is applied also
    /// zeroes the gradients in the same pass (`Network.gradientsCleared`), so the next step's
    /// `zeroGradients` skips its own pass over them; a skipped one leaves them as they were.
    public func stepIfFinite(_ network: Network, learningRate: Float, parameterMagnitude: Float? = nil,
                             gradientMagnitude: Float? = nil) -> Bool {
        precondition(network.parameterCount == velocity.count, "the optimizer was made for \(velocity.count) parameters")
        let parameters = network.parameters.pointer, gradients = network.gradients.pointer
        guard staysFinite(parameters: parameters, gradients: gradients, learningRate: learningRate,
                          parameterMagnitude: parameterMagnitude, gradientMagnitude: gradientMagnitude) else { return false }
        velocityMagnitude = dtk_sgd_step(parameters, gradients, velocity.pointer, velocity.count, learningRate, momentum,
                                         weightDecay, 1, &self.parameterMagnitude)
        network.gradientsCleared()
        return true
    }

    /// True when the update cannot overflow, given |θ| ≤ P, |g| ≤ G and |v| ≤ V elementwise:
    /// |g + λθ| ≤ G + |λ|P, |μv + g'| ≤ |μ|V + G + |λ|P, |θ − ηv'| ≤ P + |η|·(|μ|V + G + |λ|P),
    /// each kept below half the largest float (float rounding adds far less than that margin).
    /// False for any NaN or infinite input.
    public static func updateIsBounded(parameters p: Float, gradients g: Float, velocity v: Float,
                                       learningRate lr: Float, momentum: Float, weightDecay: Float) -> Bool {
        let decayed = Double(g) + Double(abs(weightDecay)) * Double(p)
        let nextVelocity = Double(abs(momentum)) * Double(v) + decayed
        let nextParameters = Double(p) + Double(abs(lr)) * nextVelocity
        // NaN and ∞ in p, g or v propagate into these three (0·∞ is NaN).
        guard decayed.isFinite, nextVelocity.isFinite, nextParameters.isFinite else { return false }
        return max(decayed, nextVelocity, nextParameters) < Double(Float.greatestFiniteMagnitude) / 2
    }
}

import CKernels
import NeuralCore

extension BenchCommand {
    /// Seconds of one SGD update over `count` parameters alone: the step's own kernel (momentum,
    /// weight decay, the gradients cleared as in training) on arrays of its own, best of repeated
    /// calls for about 0.1 s. The update streams parameters, gradients and velocity (12 bytes a
    /// parameter read, 12 written) with a few operations each, so this is what the memory system
    /// gives it on this machine, for that working set.
    static func updateSeconds(count: Int, clock: () -> Double) -> Double {
        let p = FloatBuffer(count: count), g = FloatBuffer(count: count), v = FloatBuffer(count: count)
        for i in 0..<count { p.pointer[i] = Float(i % 13) * 0.01 - 0.06 }
        var largest: Float = 0, best = Double.infinity
        let deadline = clock() + 0.1
        var calls = 0
        repeat {
            let t0 = clock()
            _ = dtk_sgd_step(p.pointer, g.pointer, v.pointer, count, 1e-3, 0.9, 5e-4, 1, &largest)
            best = min(best, clock() - t0)
            calls += 1
        } while clock() < deadline || calls < 5
        return best
    }

    /// GFLOP/s of a step whose FLOPs all go through sgemm if it did nothing but its GEMMs, at the
    /// rate sgemm reaches on those shapes replayed alone, and its update, at the speed it runs
    /// alone: no elementwise pass, no objective, no check, no allreduce. The bound BLAS and the
    /// memory system set for one rank's step. 0 when some FLOPs go through other kernels.
    static func stepBound(flops: Int, sgemmShare: Double, shapeGflops: Double, updateSeconds: Double) -> Double {
        guard sgemmShare >= 0.999, shapeGflops > 0, flops > 0 else { return 0 }
        let seconds = Double(flops) / (shapeGflops * 1e9) + updateSeconds
        return Double(flops) / seconds / 1e9
    }
}

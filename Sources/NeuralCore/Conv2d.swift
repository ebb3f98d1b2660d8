import CKernels

/// 2-D convolution, computed by direct kernels for the shapes they take, or lowered to GEMMs
/// over the unrolled patches (im2col) otherwise (`Lowering`).
///
/// y[n, co, oy, ox] = b[co] + Σ_{ci, ky, kx} W[co, ci, ky, kx] · x[n, ci, oy·s − p + ky, ox·s − p + kx]
/// W: (out, in, k, k) as PyTorch's `nn.Conv2d.weight`; b: (out). Input in `chw` or `hwc`
/// layout, output in `hwc`. With P = N·OH·OW rows and K = k·k·in:
///   forward   Y (P, out) = col (P, K) · W′ᵀ + b
///   backward  dW′ = dYᵀ · col,  db += Σ_rows dY,  dcol = dY · W′,  dx = col2im(dcol)
/// (the direct kernels compute the same sums without forming col or dcol).
/// The unrolled patch is ordered (ky, kx, ci), not PyTorch's (ci, ky, kx), so that for `hwc`
/// inputs each (ky, kx) tap is one contiguous run of `in` floats; W′ is W permuted to that
/// order (a copy of out·K floats per pass), and dW′ is permuted back into dW.
/// With `appliesReLU` (a ReLU follows, see `ReLUFusable`) y is rectified in the bias pass, or by
/// the direct kernels as they store it; their backward passes mask dy as they read it where
/// that measured faster (see `backward`).
public final class Conv2d: ReLUFusable {
    /// How the forward pass and the input gradient are computed. The models' convolutions make
    /// thin GEMMs (N = 16 to 64 output channels, K = 16 to 800), where unrolling the patches and
    /// OpenBLAS's packing cost as much as the arithmetic: direct kernels (CKernels) compute y
    /// and dx from the input without unrolling, four output positions at a time (measured in
    /// docs/performance.md). They take a one-channel input (at most 64 taps) or an `hwc` input of
    /// at most 64 channels, with at most 64 outputs; other shapes use im2col + sgemm. The weight
    /// gradient, a GEMM over the whole batch, has direct kernels too for one-channel inputs and
    /// for hwc inputs of 16, 32, 48 or 64 channels (accumulators held in vector registers).
    public enum Lowering: Sendable { case gemm, direct }

    static func directPossible(_ c: Int, _ kernel: Int, _ stride: Int, _ out: Int, _ layout: Layout) -> Bool {
        out <= 64 && (c == 1 ? kernel * kernel <= 64 && 8 * stride + kernel <= Int(DTK_PAD_SLACK)
                             : (layout == .hwc && c <= 64))
    }
    public var lowering: Lowering {
        didSet {
            precondition(lowering == .gemm || Conv2d.directPossible(inChannels, kernel, stride, outChannels, inputLayout),
                         "the direct kernels take one input channel (at most 64 taps, stride at most 31) or an hwc input, at most 64 channels in and out")
            capacity = 0   // the buffers needed change with the lowering
        }
    }
    public let inChannels, outChannels, kernel, stride, padding: Int
    public let inputShape: Shape
    public let inputLayout: Layout
    public var outputLayout: Layout { .hwc }
    public let outputShape: Shape
    public var name: String { "Conv2d(\(inChannels), \(outChannels), \(kernel), stride: \(stride), padding: \(padding))" }
    public var parameterCount: Int { outChannels * patch + outChannels }
    public var parameterShapes: [(suffix: String, shape: [Int])] {
        [("weight", [outChannels, inChannels, kernel, kernel]), ("bias", [outChannels])]
    }
    public var fanIn: Int { patch }
    /// K: the length of one unrolled receptive field.
    public var patch: Int { inChannels * kernel * kernel }

    private var w: UnsafeMutablePointer<Float>!
    private var b: UnsafeMutablePointer<Float>!
    private var dw: UnsafeMutablePointer<Float>!
    private var db: UnsafeMutablePointer<Float>!
    private var col: FloatBuffer?
    private var dcol: FloatBuffer?
    /// The one-channel direct kernels' input and input gradient with the padding written out
    /// (`paddedSize`); the input's padding stays zero, the gradient's is cleared by each pass.
    private var padded: FloatBuffer?
    private var paddedGradient: FloatBuffer?
    /// W and dW in (out, ky, kx, in) order.
    private let wPermuted: FloatBuffer
    private let dwPermuted: FloatBuffer
    /// W′ rearranged for a direct kernel: (taps·in, out) in the forward pass, (taps, out, in)
    /// in the input-gradient pass of an hwc input (rewritten by each pass).
    private let wTransposed: FloatBuffer
    private var capacity = 0
    public var appliesReLU = false { didSet { capacity = 0 } }
    /// dL/d(convolution output) when the ReLU is applied here.
    private var masked: FloatBuffer?
    /// Input offset of the first channel of each (output position, tap), or -1 for padding.
    private let tapOffset: [Int32]
    /// Distance between consecutive channels of one input pixel.
    private let channelStride: Int

    public init(input: Shape, layout: Layout, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
        precondition(kernel > 0 && stride > 0 && padding >= 0)
        inChannels = input.channels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        inputShape = input
        inputLayout = layout
        let oh = (input.height + 2 * padding - kernel) / stride + 1
        let ow = (input.width + 2 * padding - kernel) / stride + 1
        precondition(oh > 0 && ow > 0, "convolution kernel larger than padded input")
        outputShape = Shape(outChannels, oh, ow)
        let st = layout.strides(input)
        channelStride = st.c
        var offsets = [Int32]()
        offsets.reserveCapacity(oh * ow * kernel * kernel)
        for oy in 0..<oh {
            for ox in 0..<ow {
                for ky in 0..<kernel {
                    let iy = oy * stride - padding + ky
                    for kx in 0..<kernel {
                        let ix = ox * stride - padding + kx
                        let inside = iy >= 0 && iy < input.height && ix >= 0 && ix < input.width
                        offsets.append(inside ? Int32(iy * st.h + ix * st.w) : -1)
                    }
                }
            }
        }
        tapOffset = offsets
        lowering = Conv2d.directPossible(input.channels, kernel, stride, outChannels, layout) ? .direct : .gemm
        wPermuted = FloatBuffer(count: outChannels * input.channels * kernel * kernel)
        dwPermuted = FloatBuffer(count: outChannels * input.channels * kernel * kernel)
        wTransposed = FloatBuffer(count: outChannels * input.channels * kernel * kernel)
    }

    public func bind(parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>) {
        w = parameters; b = parameters + outChannels * patch
        dw = gradients; db = gradients + outChannels * patch
    }

    /// Samples whose unrolled patches are processed together: about `chunkBytes` of patches,
    /// so im2col, the GEMMs and col2im work in cache instead of streaming the whole batch's
    /// patches through memory. The backward pass unrolls its chunk again.
    public var chunkBytes = 4 << 20 {
        didSet { capacity = 0 }
    }
    public var chunkSamples: Int {
        max(1, chunkBytes / max(1, outputShape.height * outputShape.width * patch * 4))
    }

    /// The weight gradient has a direct kernel: one input channel, or hwc with a multiple of 16.
    private var directWeightGradient: Bool { lowering == .direct && (inChannels == 1 || inChannels % 16 == 0) }

    /// The one-channel direct kernels work on padded images: (h + 2p) x (w + 2p).
    private var paddedHeight: Int { inputShape.height + 2 * padding }
    private var paddedWidth: Int { inputShape.width + 2 * padding }
    private var padsInput: Bool { lowering == .direct && inChannels == 1 }
    private func paddedSize(_ batch: Int) -> Int { batch * paddedHeight * paddedWidth + Int(DTK_PAD_SLACK) }

    /// Whether the one-channel kernels mask dy by the ReLU's output y as they read it, instead of
    /// a separate pass into `masked`: always for the weight gradient, and for the input gradient
    /// when each position has one vector of outputs (16). With more (the 5x5 -> 32 layer of
    /// cnn-large, whose 12.8 MB of y and dy stream from memory) the separate pass measured
    /// faster: 7.8% of a PGD-10 step against 9.4%.
    private func masksInKernel(inputGradient: Bool) -> Bool {
        appliesReLU && padsInput && (!inputGradient || outChannels <= 16)
    }

    /// Sizes the unrolled-patch buffers, when some pass unrolls: `col` for the GEMM forward pass
    /// or weight gradient, `dcol` for the GEMM input gradient; and the padded images of the
    /// one-channel direct kernels.
    public func reserve(batch: Int) {
        guard batch > capacity else { return }
        let size = min(batch, chunkSamples) * outputShape.height * outputShape.width * patch
        if (lowering == .gemm || !directWeightGradient) && size > (col?.count ?? 0) { col = FloatBuffer(count: size) }
        if lowering == .gemm && size > (dcol?.count ?? 0) { dcol = FloatBuffer(count: size) }
        if padsInput && paddedSize(batch) > (padded?.count ?? 0) { padded = FloatBuffer(count: paddedSize(batch)) }
        if appliesReLU && !masksInKernel(inputGradient: true) && batch * outputShape.count > (masked?.count ?? 0) {
            masked = FloatBuffer(count: batch * outputShape.count)
        }
        capacity = batch
    }

    /// Bytes of the unrolled-patch buffers and permuted weights.
    public var workspaceBytes: Int {
        ((col?.count ?? 0) + (dcol?.count ?? 0) + (masked?.count ?? 0) + (padded?.count ?? 0)
            + (paddedGradient?.count ?? 0) + 3 * wPermuted.count) * 4
    }

    /// Copies samples of x into the interior of `padded` (its padding is zero).
    private func pad(_ x: UnsafePointer<Float>, batch: Int) {
        dtk_pad_images(x, batch, inputShape.height, inputShape.width, padding, padded!.pointer)
    }

    /// W (out, in, k, k) → W′ (out, k, k, in).
    private func permuteWeights() {
        let c = inChannels, kk = kernel * kernel, wp = wPermuted.pointer
        for o in 0..<outChannels {
            for ci in 0..<c { for t in 0..<kk { wp[(o * kk + t) * c + ci] = w[(o * c + ci) * kk + t] } }
        }
    }

    /// Unrolls the patches of samples s0 ..< s0 + count of x into `col`.
    private func im2col(_ x: UnsafePointer<Float>, from s0: Int, count: Int) {
        let runs = outputShape.height * outputShape.width * kernel * kernel
        tapOffset.withUnsafeBufferPointer { offsets in
            dtk_im2col(x + s0 * inputShape.count, inputShape.count, count, offsets.baseAddress, runs,
                       inChannels, channelStride, col!.pointer)
        }
    }

    public func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int) {
        reserve(batch: batch)
        permuteWeights()
        let positions = outputShape.height * outputShape.width, k = patch
        if lowering == .direct {
            // W′ (out, taps) transposed to (taps, out), so each tap adds a run of out weights.
            let wt = wTransposed.pointer
            for o in 0..<outChannels { for t in 0..<k { wt[t * outChannels + o] = wPermuted.pointer[o * k + t] } }
            GEMMCounter.flops &+= 2 &* batch &* positions &* outChannels &* k
            // The kernels rectify y as they store it when the ReLU is applied here.
            let relu: Int32 = appliesReLU ? 1 : 0
            if padsInput {
                pad(x, batch: batch)
                dtk_conv1_forward(padded!.pointer, paddedHeight, paddedWidth, batch, outputShape.height,
                                  outputShape.width, kernel, stride, wt, b, outChannels, relu, y)
            } else {
                tapOffset.withUnsafeBufferPointer { offsets in
                    dtk_conv_forward(x, inputShape.count, batch, offsets.baseAddress, positions, kernel * kernel,
                                     inChannels, wt, b, outChannels, relu, y)
                }
            }
            return
        }
        var s0 = 0
        while s0 < batch {
            let count = min(chunkSamples, batch - s0)
            im2col(x, from: s0, count: count)
            let rows = count * positions, yc = y + s0 * positions * outChannels
            sgemm(transB: true, m: rows, n: outChannels, k: k, a: col!.pointer, lda: k, b: wPermuted.pointer, ldb: k,
                  c: yc, ldc: outChannels)
            dtk_add_bias(yc, rows, outChannels, b, appliesReLU ? 1 : 0)
            s0 += count
        }
    }

    public func backward(x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>?, batch: Int, parameterGradients: Bool) {
        let positions = outputShape.height * outputShape.width, k = patch
        let n = inputShape.count, c = inChannels, cs = channelStride, taps = kernel * kernel
        var dy = dy
        let maskedByKernels = masksInKernel(inputGradient: dx != nil)
        let reluOutput: UnsafePointer<Float>? = maskedByKernels ? y : nil
        if appliesReLU && !maskedByKernels {
            // dy is dL/d(ReLU output): masked with y > 0 first.
            reserve(batch: batch)
            ReLU.mask(dy, by: y, into: masked!.pointer, rows: 1, width: batch * outputShape.count)
            dy = UnsafePointer(masked!.pointer)
        }
        if parameterGradients && directWeightGradient {
            GEMMCounter.flops &+= 2 &* batch &* positions &* outChannels &* k
            if c == 1 {   // W′ is W: straight into dW
                reserve(batch: batch)
                pad(x, batch: batch)
                dtk_conv1_backward_weight(padded!.pointer, paddedHeight, paddedWidth, batch, outputShape.height,
                                          outputShape.width, kernel, stride, dy, reluOutput, outChannels, dw, db)
            } else {
                dwPermuted.zero()
                tapOffset.withUnsafeBufferPointer { offsets in
                    dtk_conv_backward_weight(x, n, batch, offsets.baseAddress, positions, taps, c, dy, outChannels,
                                             dwPermuted.pointer, db)
                }
                addPermutedWeightGradient()
            }
        }
        if let dx {
            if padsInput {   // W′ is W, (out, taps); into a padded dx, whose interior is then dx
                GEMMCounter.flops &+= 2 &* batch &* positions &* outChannels &* k
                if paddedSize(batch) > (paddedGradient?.count ?? 0) { paddedGradient = FloatBuffer(count: paddedSize(batch)) }
                let dxp = paddedGradient!.pointer
                dxp.update(repeating: 0, count: paddedSize(batch))
                dtk_conv1_backward_input(dy, reluOutput, batch, outputShape.height, outputShape.width, kernel, stride, w,
                                         outChannels, dxp, paddedHeight, paddedWidth)
                dtk_unpad_images(dxp, batch, inputShape.height, inputShape.width, padding, dx)
            } else {
                dx.update(repeating: 0, count: batch * n)
            }
            if lowering == .direct && !padsInput {
                GEMMCounter.flops &+= 2 &* batch &* positions &* outChannels &* k
                // W′ (out, taps, c) → (taps, out, c): one tap's weights contiguous.
                let wb = wTransposed.pointer, wp = wPermuted.pointer
                for t in 0..<taps {
                    for o in 0..<outChannels {
                        (wb + (t * outChannels + o) * c).update(from: wp + (o * taps + t) * c, count: c)
                    }
                }
                tapOffset.withUnsafeBufferPointer { offsets in
                    dtk_conv_backward_input(dy, batch, offsets.baseAddress, positions, taps, c, wb, outChannels, dx, n)
                }
            }
        }
        // What is left goes through the unrolled patches, a chunk of samples at a time.
        let unrolledWeights = parameterGradients && !directWeightGradient
        let unrolledInput = dx != nil && lowering == .gemm
        guard unrolledWeights || unrolledInput else { return }
        if unrolledWeights { dwPermuted.zero() }
        var s0 = 0
        while s0 < batch {
            let count = min(chunkSamples, batch - s0)
            let rows = count * positions
            let dyc = dy + s0 * positions * outChannels
            if unrolledWeights {
                im2col(x, from: s0, count: count)
                sgemm(transA: true, m: outChannels, n: k, k: rows, a: dyc, lda: outChannels,
                      b: col!.pointer, ldb: k, beta: 1, c: dwPermuted.pointer, ldc: k)
                dtk_add_column_sums(dyc, rows, outChannels, db)
            }
            if let dx, unrolledInput {
                let dc = dcol!.pointer
                sgemm(m: rows, n: k, k: outChannels, a: dyc, lda: outChannels, b: wPermuted.pointer, ldb: k, c: dc, ldc: k)
                tapOffset.withUnsafeBufferPointer { offsets in
                    dtk_col2im(dc, n, count, offsets.baseAddress, positions * taps, c, cs, dx + s0 * n)
                }
            }
            s0 += count
        }
        if unrolledWeights { addPermutedWeightGradient() }
    }

    /// dW += dW′ permuted back from (out, ky, kx, in) to PyTorch's (out, in, ky, kx).
    private func addPermutedWeightGradient() {
        let c = inChannels, kk = kernel * kernel, dwp = dwPermuted.pointer
        for o in 0..<outChannels {
            for ci in 0..<c { for t in 0..<kk { dw[(o * c + ci) * kk + t] += dwp[(o * kk + t) * c + ci] } }
        }
    }
}

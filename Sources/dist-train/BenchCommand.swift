import Adversarial
import ArgumentParser
import DataIO
import Distributed
import Foundation
import NeuralCore
import Training

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training-step throughput, its phases, memory, and the sgemm peak in the same run.",
        discussion: """
            Rows: each model × {plain, fgsm-rs-der (FGSM-RS + DER on AAEs), pgd10-der (PGD-10 + DER on all)} \
            training steps on random inputs at the given global batch, including the allreduce and the SGD \
            update. samples/s is the median (and range) of --repeats timed blocks after warm-up; GFLOP/s \
            counts the GEMM operations really issued (and those of the direct convolution kernels); the sgemm \
            peak is a square GEMM measured in the same run; %shapes compares with sgemm on the step's own \
            GEMM shapes replayed alone (the bound BLAS sets; JSON: sgemm_shapes_gflops, sgemm_flop_share); \
            %bound compares one rank's step with those GEMMs plus its SGD update alone, nothing else, for \
            models whose FLOPs all go through sgemm (the mlp; JSON: step_bound_gflops, update_alone_s). \
            Phases are fractions of the step: attack, forward, objective, backward, allreduce (with the \
            non-finite checks), optimizer; att.fw and att.bw are the parts of the attack spent in the \
            network's forward and backward passes (JSON: phases.attack_forward, phases.attack_backward). \
            sgemm is checked against a double-precision sum on every step's shapes (sgemm_check_error). \
            Under mpirun the global batch is split across ranks (weak scaling: raise --batch-size with \
            the rank count); with --independent the ranks do not communicate inside the timed blocks; \
            with --paired-single each N-rank block is followed by one rank alone, for the weak-scaling \
            efficiency block by block. \
            Compare result files with Tests/Reference/compare_bench.py; launch/bench-vs-torch.sh runs the \
            PyTorch reference beside it.
            """)

    @Option(help: "Comma-separated models.")
    var models: String = "mlp,cnn-small,cnn-large"
    @Option(help: "Comma-separated modes: plain, fgsm-rs-der, pgd10-der.")
    var modes: String = "plain,fgsm-rs-der,pgd10-der"
    @Option(help: "Global batch size.")
    var batchSize: Int = 128
    @Option(help: "OpenBLAS threads per rank.")
    var threads: Int = 1
    @Option(help: "Timed blocks per row (the median is reported).")
    var repeats: Int = 5
    @Option(help: "Seconds per timed block, about: its step count is fixed beforehand from two calibration steps (the slowest rank's), so timed steps hold no collective but their allreduce.")
    var seconds: Double = 0.5
    @Option(help: "Size n of the n×n×n sgemm used to measure the peak.")
    var peakSize: Int = 1024
    @Option(help: "Also append the JSON rows to this file.")
    var output: String?
    @Option(help: "Gradient buckets in MiB reduced with non-blocking allreduces during the backward pass; 0: one blocking allreduce after it (as train's --bucket-mib).")
    var bucketMib: Double = 0
    @Flag(help: "Time blocks of steps with this thread's CPU clock instead of the wall clock: for a machine shared with other jobs (--threads 1 only; Tests/Reference/torch_bench.py --cpu-clock does the same). The phase fractions stay on the wall clock, which costs a step far less to read.")
    var cpuClock = false
    @Flag(help: "Also time every layer's forward, input-gradient backward (attack) and parameter backward (training) passes, as fractions of the layers' total.")
    var layers = false
    @Flag(help: "Print one JSON object per row instead of a table.")
    var json = false
    @Flag(help: "Under mpirun: every rank trains its own model on its shard, with no allreduce (blocks still start together): what the machine gives N ranks computing at once, the bound on any weak scaling (samples/s: the ranks' sum).")
    var independent = false
    @Flag(help: "Under mpirun: after every timed block of the N ranks, one rank (the block's index mod N) trains its own shard alone for as many steps while the others sleep in a barrier: weak-scaling efficiency block by block within one run, so that a host whose speed drifts between runs cannot move it (JSON: paired_efficiency and its min and max, paired_single_samples_per_s).")
    var pairedSingle = false
    @Flag(help: "Time MPI_Allreduce of float buffers instead: a size sweep (1 Ki to 16 Mi floats) and each model's gradient size; run under mpirun (Tests/Reference/fit_allreduce.py fits the cost model).")
    var allreduce = false

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        guard !(pairedSingle && independent) else { throw ValidationError("--paired-single and --independent exclude each other") }
        guard !cpuClock || threads == 1 else { throw ValidationError("--cpu-clock needs --threads 1 (other BLAS threads' time is not counted)") }
        for m in models.split(separator: ",") where ModelKind(rawValue: String(m)) == nil {
            throw ValidationError("--models: unknown model '\(m)' (known: \(ModelKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        for m in modes.split(separator: ",") where Mode(rawValue: String(m)) == nil {
            throw ValidationError("--modes: unknown mode '\(m)' (known: \(Mode.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
    }

    enum Mode: String, CaseIterable {
        case plain, fgsmRSDER = "fgsm-rs-der", pgd10DER = "pgd10-der"
        func settings(eps: Float) -> (AttackSettings, DERMode) {
            switch self {
            case .plain: return (AttackSettings(kind: .none, epsilon: 0), .off)
            case .fgsmRSDER: return (AttackSettings(kind: .fgsmRS, epsilon: eps), .aae)
            case .pgd10DER: return (AttackSettings(kind: .pgd, epsilon: eps, steps: 10), .all)
            }
        }
    }

    struct Row {
        var median, low, high, gflops: Double
        /// GFLOP/s of sgemm on the step's GEMM shapes alone, and the fraction of the step's FLOPs
        /// that go through sgemm (the rest: direct convolution kernels).
        var shapeGflops = 0.0, sgemmShare = 1.0
        /// Seconds of the update alone, and the GFLOP/s bound of one rank's step from its GEMMs
        /// and its update alone (`stepBound`; 0 for models with other kernels).
        var updateSeconds = 0.0, boundGflops = 0.0
        /// The largest relative error of sgemm on the step's shapes (`SGEMMCheck`).
        var sgemmCheckError = 0.0
        /// Fractions of the step in the attack's forward and backward passes (parts of `attack`).
        var attackForward = 0.0, attackBackward = 0.0
        /// Seconds per step of one blocking allreduce of all gradients, and of waiting for the
        /// bucketed non-blocking reductions after the backward pass (the part not hidden).
        var allreduceBlocking, allreduceExposed: Double
        /// Seconds per step of compute (the step without its allreduce phase): the mean over ranks,
        /// and the slowest rank's step by step. A synchronous step waits for the slowest rank, so
        /// mean / (slowest + one blocking allreduce) bounds the weak-scaling efficiency from the
        /// ranks' own speeds.
        var computeMean = 0.0, computeSlowest = 0.0
        /// With --paired-single: each block's samples/s over N × the one-rank block after it
        /// (median, min, max), and the one-rank blocks' median samples/s.
        var paired: (median: Double, low: Double, high: Double, single: Double)?
        var phases: PhaseTimes
        var rssGrowthKB: Int
        var parameterBytes, activationBytes: Int
        /// Per layer: name and fractions of the layers' time in forward, input-gradient backward,
        /// parameter backward (with --layers).
        var layerShares: [(name: String, forward: Double, input: Double, parameters: Double)] = []
    }

    func run() throws {
        let comm: any Communicator
        do { comm = try Communicators.make() } catch { throw CLIError("\(error)") }
        defer { (comm as? MPICommunicator)?.finalize() }
        guard batchSize >= comm.size else { throw ValidationError("--batch-size \(batchSize) is smaller than the ranks (\(comm.size))") }
        guard !pairedSingle || comm.size > 1 else { throw ValidationError("--paired-single needs 2 or more ranks (run it under mpirun)") }
        BLASThreads.set(threads)
        try Runtime.checkBLAS()
        if cpuClock { PhaseTimes.clock = CLOCK_THREAD_CPUTIME_ID }
        if allreduce { return try measureAllreduce(comm: comm) }
        let peak = sgemmPeak(n: peakSize)
        let out = comm.isRoot
        if out && !json {
            print(String(format: "sgemm peak (%d³, %d thread%@): %.1f GFLOP/s; %d rank(s), global batch %d; ", peakSize,
                         threads, threads == 1 ? "" : "s", peak, comm.size, batchSize) + BLASKernels.description)
            print("model       mode          samples/s   range           GFLOP/s  %peak  %shapes %bound attack forward  object backward allred  optim  (att.fw  att.bw)  peak RSS MiB (params+grads+momentum + activations)")
        }
        var lines: [String] = []
        for m in models.split(separator: ",").compactMap({ ModelKind(rawValue: String($0)) }) {
            for mode in modes.split(separator: ",").compactMap({ Mode(rawValue: String($0)) }) {
                let r = try measure(model: m, mode: mode, comm: comm)
                let rss = Self.peakRSSKB()
                let total = max(r.phases.total, 1e-12)
                let fractions = PhaseTimes.Phase.allCases.map { r.phases[$0] / total }
                let pairedFields: [(String, JSONValue)] = r.paired.map { p in [
                    ("paired_efficiency", .number(p.median)), ("paired_efficiency_min", .number(p.low)),
                    ("paired_efficiency_max", .number(p.high)), ("paired_single_samples_per_s", .number(p.single)),
                ] } ?? []
                let head: [(String, JSONValue)] = [
                    ("model", .string(m.rawValue)), ("mode", .string(mode.rawValue)), ("batch", .integer(batchSize)),
                    ("ranks", .integer(comm.size)), ("threads", .integer(threads)),
                    ("independent", .bool(independent)),
                    ("mpi_single_copy", .string(getenv(MPICommunicator.singleCopyVariable).map { String(cString: $0) } ?? "default")),
                    ("mpi_max_send_size", .string(getenv(MPICommunicator.maxSendSizeVariable).map { String(cString: $0) } ?? "default")),
                    ("samples_per_s", .number(r.median)), ("samples_per_s_min", .number(r.low)),
                    ("samples_per_s_max", .number(r.high)), ("gflops", .number(r.gflops)),
                    ("sgemm_peak_gflops", .number(peak)), ("fraction_of_peak", .number(r.gflops / peak)),
                    ("sgemm_shapes_gflops", .number(r.shapeGflops)), ("sgemm_flop_share", .number(r.sgemmShare)),
                    ("fraction_of_shapes_peak", .number(r.shapeGflops > 0 ? r.gflops / r.shapeGflops : 0)),
                    ("update_alone_s", .number(r.updateSeconds)), ("step_bound_gflops", .number(r.boundGflops)),
                    ("fraction_of_step_bound", .number(r.boundGflops > 0 ? r.gflops / Double(comm.size) / r.boundGflops : 0)),
                    ("phases", .object(PhaseTimes.Phase.allCases.map { ($0.name, .number(fractions[$0.rawValue])) }
                                       + [("attack_forward", .number(r.attackForward)), ("attack_backward", .number(r.attackBackward))])),
                    ("allreduce_blocking_s", .number(r.allreduceBlocking)), ("allreduce_exposed_s", .number(r.allreduceExposed)),
                    ("allreduce_hidden", .number(r.allreduceBlocking > 0 ? max(0, 1 - r.allreduceExposed / r.allreduceBlocking) : 0)),
                    ("compute_mean_s", .number(r.computeMean)), ("compute_slowest_s", .number(r.computeSlowest)),
                ]
                let tail: [(String, JSONValue)] = [
                    ("peak_rss_kb", .integer(rss)), ("rss_growth_kb", .integer(r.rssGrowthKB)),
                    ("parameter_bytes", .integer(r.parameterBytes)), ("activation_bytes", .integer(r.activationBytes)),
                    ("layers", .array(r.layerShares.map { l in .object([
                        ("name", .string(l.name)), ("forward", .number(l.forward)),
                        ("backward_input", .number(l.input)), ("backward_parameters", .number(l.parameters)),
                    ]) })),
                    ("impl", .string("dist-train \(DistTrainVersion.string)")), ("blas_core", .string(BLASCore.name)),
                    ("sgemm_check_error", .number(r.sgemmCheckError)),
                    ("clock", .string(cpuClock ? "cpu" : "wall")),
                ]
                let line = JSONValue.object(head + pairedFields + tail).text
                lines.append(line)
                guard out else { continue }
                if json { print(line) } else {
                    print(pad(m.rawValue, 12) + pad(mode.rawValue, 14) + String(format: "%9.0f   %6.0f–%-6.0f %7.1f  %5.1f%% %6.1f%% %@ ",
                          r.median, r.low, r.high, r.gflops, 100 * r.gflops / peak,
                          r.shapeGflops > 0 ? 100 * r.gflops / r.shapeGflops : 0,
                          r.boundGflops > 0 ? String(format: "%5.1f%%", 100 * r.gflops / Double(comm.size) / r.boundGflops) : "     –")
                          + fractions.map { String(format: " %6.1f%%", 100 * $0) }.joined()
                          + String(format: "  (%5.1f%% %6.1f%%)", 100 * r.attackForward, 100 * r.attackBackward)
                          + String(format: "   %6.1f (%.1f + %.1f)", Double(rss) / 1024,
                                   Double(r.parameterBytes) / 1048576, Double(r.activationBytes) / 1048576))
                    if let p = r.paired {
                        print("    paired with one rank alone (\(String(format: "%.0f", p.single)) samples/s): weak-scaling efficiency "
                              + String(format: "%.1f%% (%.1f–%.1f%%)", 100 * p.median, 100 * p.low, 100 * p.high))
                    }
                    for l in r.layerShares {
                        print("    " + pad(l.name, 44) + String(format: "forward %5.1f%%  input backward %5.1f%%  parameter backward %5.1f%%",
                                                           100 * l.forward, 100 * l.input, 100 * l.parameters))
                    }
                }
            }
        }
        if out, let output {
            let existing = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            try AtomicFile.write(existing + lines.joined(separator: "\n") + "\n", to: output)
        }
    }

    private func pad(_ s: String, _ width: Int) -> String { s + String(repeating: " ", count: max(1, width - s.count)) }

    private func measure(model: ModelKind, mode: Mode, comm: any Communicator) throws -> Row {
        let network = model.build(input: Shape(1, 28, 28), classes: 10)
        network.initialize(seed: 1)
        let (attack, der) = mode.settings(eps: 0.1)
        let step = TrainStep(network: network, attack: attack, der: der, beta: 1, gamma: 0, aaeReference: .start, seed: 1)
        let sgd = SGD(parameterCount: network.parameterCount, momentum: 0.9, weightDecay: 5e-4)
        var rng = KeyedRandom(seed: 7)
        let data = Dataset(name: "random", channels: 1, height: 28, width: 28, classes: 10,
                           images: (0..<(batchSize * 784)).map { _ in rng.nextFloat() },
                           labels: (0..<batchSize).map { _ in Int32(rng.below(10)) })
        let shard = Sharding.shard(of: batchSize, rank: comm.rank, ranks: comm.size)
        step.load(data, indices: shard)
        // --independent: this rank's shard is a whole batch of its own, reduced over no one.
        let stepComm: any Communicator = independent ? LocalCommunicator() : comm
        let stepBatch = independent ? shard.count : batchSize
        var extra = PhaseTimes()
        // As in training: layer buckets reduced with MPI_Iallreduce while the backward pass goes on.
        let bucketBytes = bucketMib > 0 ? Int(bucketMib * 1_048_576) : nil
        let reducer = GradientReducer(network: network, comm: stepComm, bucketBytes: bucketBytes)
        // --paired-single: the same step on this rank alone, reduced over no one.
        let soloReducer = GradientReducer(network: network, comm: LocalCommunicator(), bucketBytes: bucketBytes)
        // As in Trainer.runStep and run: the parameters' magnitude (a scan at the first step, then
        // the last update's; counted with the allreduce and the gradient scan as the non-finite
        // checks), then the update if it stays finite.
        func once(_ i: Int, alone: Bool = false) throws {
            let reducer = alone ? soloReducer : reducer
            let parameterMagnitude = extra.time(.allreduce) { reducer.scanParameters(known: i > 0 ? sgd.parameterMagnitude : nil) }
            step.computeGradients(globalBatch: alone ? shard.count : stepBatch, epoch: i, reducer: reducer)
            try extra.time(.allreduce) { try reducer.finish() }
            try extra.time(.optimizer) {
                guard sgd.stepIfFinite(network, learningRate: 0.001, parameterMagnitude: parameterMagnitude,
                                       gradientMagnitude: reducer.gradientMagnitude) else {
                    throw ValidationError("\(model.rawValue) \(mode.rawValue): the update left a parameter non-finite")
                }
            }
        }
        for i in 0..<3 { try once(i) }
        // The same GEMMs alone: what OpenBLAS reaches on this step's shapes.
        GEMMCounter.shapes = []
        try once(3)
        let shapes = GEMMCounter.shapes ?? []
        GEMMCounter.shapes = nil
        let shapeRate = GEMMShape.replayRate(shapes, seconds: 0.3, clock: PhaseTimes.now)
        // The numbers below mean nothing if the kernels compute wrong on this step's shapes.
        let checkError = try Runtime.checkBLAS(shapes, samples: 16)
        // Steps per block, fixed before timing from two calibration steps (the slowest rank's), so
        // that the timed steps hold no collective but their own allreduce, as in training.
        let c0 = PhaseTimes.now()
        for i in 4..<6 { try once(i) }
        var estimate: [Int64] = [Int64(max(PhaseTimes.now() - c0, 1e-9) / 2 * 1e9)]
        try estimate.withUnsafeMutableBufferPointer { try comm.allreduceMax($0) }
        let perBlock = max(1, Int((seconds / (Double(estimate[0]) / 1e9)).rounded(.up)))
        // Phases, passes and layers on the wall clock (a read costs 25 ns, the CPU clock's 0.5 µs);
        // only whole blocks, and each step's compute, on --cpu-clock's.
        let layerTimes = layers ? LayerTimes(layers: network.layers.count, clock: CLOCK_MONOTONIC) : nil
        network.layerTimes = layerTimes
        let rssBefore = Self.currentRSSKB()
        network.passClock = CLOCK_MONOTONIC
        step.times.reset(); extra.reset(); step.attackPasses = (0, 0)
        var rates: [Double] = [], flops = 0, time = 0.0, steps = 0
        var compute: [Int64] = []
        var single: [Double] = []
        // One rank alone for perBlock steps while the others sleep; its samples/s (0 elsewhere).
        // The phase times, pass times and steps count only the N-rank blocks.
        func runAlone(block: Int) throws -> Double {
            var rate = 0.0
            if comm.rank == block % comm.size {
                let (times, passes, other) = (step.times, step.attackPasses, extra)
                let start = PhaseTimes.now()
                for s in 0..<perBlock { try once(1_000_000 + block * perBlock + s, alone: true) }
                rate = Double(perBlock * shard.count) / (PhaseTimes.now() - start)
                (step.times, step.attackPasses, extra) = (times, passes, other)
            }
            try comm.quietBarrier()
            return rate
        }
        compute.reserveCapacity(repeats * perBlock)
        for _ in 0..<repeats {
            if independent { try comm.barrier() }
            let f0 = GEMMCounter.flops
            let start = PhaseTimes.now()
            for _ in 0..<perBlock {
                let s0 = PhaseTimes.now(), a0 = extra[.allreduce]
                try once(6 + steps); steps += 1
                compute.append(Int64(((PhaseTimes.now() - s0) - (extra[.allreduce] - a0)) * 1e9))
            }
            let elapsed = PhaseTimes.now() - start
            rates.append(Double(perBlock * stepBatch) / elapsed)
            flops += GEMMCounter.flops - f0
            time += elapsed
            if pairedSingle { single.append(try runAlone(block: single.count)) }
        }
        // Block i against the one-rank block after it (every rank learns that rank's rate).
        if pairedSingle { try comm.allreduceSum(&single) }
        let pairedEfficiency = zip(rates, single).map { $0 / (Double(comm.size) * $1) }
        // Independent ranks: a block's samples/s is the sum of the ranks' own.
        if independent { try comm.allreduceSum(&rates) }
        var slowest = compute, summed = compute
        try slowest.withUnsafeMutableBufferPointer { try comm.allreduceMax($0) }
        try comm.allreduceSum(&summed)
        // The same gradients reduced with one blocking allreduce, for the hidden fraction.
        try comm.barrier()
        let t0 = PhaseTimes.now()
        for _ in 0..<20 { try stepComm.allreduceSum(network.gradients.buffer) }
        let blocking = (PhaseTimes.now() - t0) / 20
        var phases = step.times
        let attackPasses = step.attackPasses
        for p in [PhaseTimes.Phase.allreduce, .optimizer] { phases.add(p, extra[p]) }
        let blockRates = Self.spread(rates)
        let bytes = network.allocatedBytes
        let exposed = extra[.allreduce] / Double(max(steps, 1))
        var row = Row(median: blockRates.median, low: blockRates.low, high: blockRates.high,
                      gflops: Double(flops) * Double(comm.size) / time / 1e9,
                      allreduceBlocking: blocking, allreduceExposed: exposed, phases: phases,
                      rssGrowthKB: Self.currentRSSKB() - rssBefore,
                      parameterBytes: bytes.parameters + sgd.velocity.count * 4, activationBytes: bytes.activations)
        row.computeMean = Double(summed.reduce(0, +)) / Double(comm.size) / 1e9 / Double(max(steps, 1))
        row.computeSlowest = Double(slowest.reduce(0, +)) / 1e9 / Double(max(steps, 1))
        row.shapeGflops = shapeRate
        if pairedSingle {
            let e = Self.spread(pairedEfficiency)
            row.paired = (e.median, e.low, e.high, Self.spread(single).median)
        }
        row.sgemmCheckError = checkError
        let total = max(phases.total, 1e-12)
        row.attackForward = attackPasses.forward / total
        row.attackBackward = attackPasses.backward / total
        let stepFlops = 2 * shapes.reduce(0) { $0 + $1.m * $1.n * $1.k }
        row.sgemmShare = flops > 0 ? min(1, Double(stepFlops) * Double(steps) / Double(flops)) : 1
        row.updateSeconds = Self.updateSeconds(count: network.parameterCount, clock: PhaseTimes.now)
        row.boundGflops = Self.stepBound(flops: stepFlops, sgemmShare: row.sgemmShare, shapeGflops: shapeRate,
                                         updateSeconds: row.updateSeconds)
        if let t = layerTimes {
            let total = max(t.total, 1e-12)
            row.layerShares = network.layers.indices.map {
                ("\($0) \(network.layers[$0].name)", t.forward[$0] / total, t.backwardInput[$0] / total, t.backwardParameters[$0] / total)
            }
        }
        return row
    }

    /// The median (the upper one of an even count), smallest and largest of `--repeats` values.
    static func spread(_ values: [Double]) -> (median: Double, low: Double, high: Double) {
        let sorted = values.sorted()
        return (sorted[sorted.count / 2], sorted.first!, sorted.last!)
    }

    /// Peak resident set of this process, KiB (getrusage).
    static func peakRSSKB() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss)
    }

    /// Current resident set, KiB (/proc/self/statm).
    static func currentRSSKB() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024 : 0
    }

    /// Best of several n×n×n sgemm calls, in GFLOP/s.
    private func sgemmPeak(n: Int) -> Double {
        let a = FloatBuffer(count: n * n), b = FloatBuffer(count: n * n), c = FloatBuffer(count: n * n)
        var rng = KeyedRandom(seed: 3)
        for i in 0..<(n * n) { a.pointer[i] = rng.uniform(1); b.pointer[i] = rng.uniform(1) }
        var best = 0.0
        let deadline = PhaseTimes.now() + 1
        var calls = 0
        repeat {
            let t0 = PhaseTimes.now()
            sgemm(m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
            best = max(best, 2 * Double(n) * Double(n) * Double(n) / (PhaseTimes.now() - t0) / 1e9)
            calls += 1
        } while PhaseTimes.now() < deadline || calls < 3
        return best
    }
}

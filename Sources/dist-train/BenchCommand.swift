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
        abstract: "Measure training-step throughput (samples/s) and the sgemm peak in the same run.",
        discussion: """
            Rows: each model × {plain, fgsm-rs+DER(aae), pgd-10+DER(all)} training steps on random \
            28×28 inputs at the given global batch, including the SGD update. samples/s is the median \
            of --repeats timed blocks after warm-up; GFLOP/s counts the GEMM operations really issued. \
            The sgemm peak is a square single-precision GEMM measured in the same run.
            """)

    @Option(help: "Comma-separated models.")
    var models: String = "mlp,cnn-small"
    @Option(help: "Comma-separated modes: plain, fgsm-rs-der, pgd10-der.")
    var modes: String = "plain,fgsm-rs-der,pgd10-der"
    @Option(help: "Global batch size.")
    var batchSize: Int = 128
    @Option(help: "OpenBLAS threads.")
    var threads: Int = 1
    @Option(help: "Timed blocks per row (the median is reported).")
    var repeats: Int = 5
    @Option(help: "Minimum seconds per timed block.")
    var seconds: Double = 0.5
    @Option(help: "Size n of the n×n×n sgemm used to measure the peak.")
    var peakSize: Int = 1024
    @Flag(help: "Print one JSON object per row instead of a table.")
    var json = false

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
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

    func run() throws {
        BLASThreads.set(threads)
        let peak = sgemmPeak(n: peakSize)
        if !json {
            print(String(format: "sgemm peak (%d×%d×%d, %d thread%@): %.1f GFLOP/s", peakSize, peakSize, peakSize,
                         threads, threads == 1 ? "" : "s", peak))
            print("model       mode          samples/s   spread      GFLOP/s   % of peak")
        }
        let data = randomData(count: batchSize)
        for m in models.split(separator: ",").compactMap({ ModelKind(rawValue: String($0)) }) {
            for mode in modes.split(separator: ",").compactMap({ Mode(rawValue: String($0)) }) {
                let r = measure(model: m, mode: mode, data: data)
                if json {
                    print(JSONValue.object([
                        ("model", .string(m.rawValue)), ("mode", .string(mode.rawValue)),
                        ("batch", .integer(batchSize)), ("threads", .integer(threads)),
                        ("samples_per_s", .number(r.median)), ("samples_per_s_min", .number(r.low)),
                        ("samples_per_s_max", .number(r.high)), ("gflops", .number(r.gflops)),
                        ("sgemm_peak_gflops", .number(peak)),
                    ]).text)
                } else {
                    print(pad(m.rawValue, 12) + pad(mode.rawValue, 14) + String(format: "%9.0f   %5.0f–%-5.0f %7.1f   %5.1f%%",
                                 r.median, r.low, r.high, r.gflops, 100 * r.gflops / peak))
                }
            }
        }
    }

    private func pad(_ s: String, _ width: Int) -> String { s + String(repeating: " ", count: max(1, width - s.count)) }

    private func randomData(count: Int) -> Dataset {
        var rng = KeyedRandom(seed: 7)
        let images = (0..<(count * 784)).map { _ in rng.nextFloat() }
        let labels = (0..<count).map { _ in Int32(rng.below(10)) }
        return Dataset(name: "random", channels: 1, height: 28, width: 28, classes: 10, images: images, labels: labels)
    }

    private func measure(model: ModelKind, mode: Mode, data: Dataset) -> (median: Double, low: Double, high: Double, gflops: Double) {
        let network = model.build(input: Shape(1, 28, 28), classes: 10)
        network.initialize(seed: 1)
        let (attack, der) = mode.settings(eps: 0.1)
        let step = TrainStep(network: network, attack: attack, der: der, beta: 1, gamma: 0, aaeReference: .start, seed: 1)
        let sgd = SGD(parameterCount: network.parameterCount, momentum: 0.9, weightDecay: 5e-4)
        let comm = LocalCommunicator()
        step.load(data, indices: 0..<data.count)
        func once(_ i: Int) {
            step.computeGradients(globalBatch: data.count, epoch: i)
            try? comm.allreduceSum(network.gradients.buffer)
            sgd.step(parameters: network.parameters.pointer, gradients: network.gradients.pointer, learningRate: 0.001)
        }
        for i in 0..<3 { once(i) }
        var rates: [Double] = [], flops = 0, time = 0.0
        for _ in 0..<repeats {
            let f0 = GEMMCounter.flops
            let start = DispatchTime.now().uptimeNanoseconds
            var steps = 0, elapsed = 0.0
            repeat {
                once(steps)
                steps += 1
                elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            } while elapsed < seconds
            rates.append(Double(steps * data.count) / elapsed)
            flops += GEMMCounter.flops - f0
            time += elapsed
        }
        rates.sort()
        return (rates[rates.count / 2], rates.first!, rates.last!, Double(flops) / time / 1e9)
    }

    /// Best of several n×n×n sgemm calls, in GFLOP/s.
    private func sgemmPeak(n: Int) -> Double {
        let a = FloatBuffer(count: n * n), b = FloatBuffer(count: n * n), c = FloatBuffer(count: n * n)
        var rng = KeyedRandom(seed: 3)
        for i in 0..<(n * n) { a.pointer[i] = rng.uniform(1); b.pointer[i] = rng.uniform(1) }
        var best = 0.0
        let deadline = DispatchTime.now().uptimeNanoseconds + 1_000_000_000
        var calls = 0
        repeat {
            let t0 = DispatchTime.now().uptimeNanoseconds
            sgemm(m: n, n: n, k: n, a: a.pointer, lda: n, b: b.pointer, ldb: n, c: c.pointer, ldc: n)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = max(best, 2 * Double(n) * Double(n) * Double(n) / dt / 1e9)
            calls += 1
        } while DispatchTime.now().uptimeNanoseconds < deadline || calls < 3
        return best
    }
}

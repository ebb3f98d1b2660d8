import Adversarial
import DataIO
import Foundation
import NeuralCore
import Training
import XCTest

/// A model trained by the dist-train binary, exported to safetensors and loaded in PyTorch
/// (`load_state_dict(strict=True)`), gives the same clean and FGSM predictions on the test set
/// as dist-train itself. Needs a CPU torch (launch/install-deps.sh --tests installs one from the
/// local wheel folder when there is one); skips with a message otherwise.
final class TorchInteropTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let data = "/usr/share/datasets/fashion-mnist"

    func run(_ executable: String, _ args: [String]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["OPENBLAS_NUM_THREADS"] = "1"
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    var binary: String {
        let bundle = Bundle(for: TorchInteropTests.self).bundleURL
        return [bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("dist-train").path }
            .first { FileManager.default.isExecutableFile(atPath: $0) } ?? "dist-train"
    }

    /// Trains `model` on `trainSamples` images (with the default FGSM-RS unless `extra` options
    /// say otherwise), exports it and compares predictions on the first `n` test images.
    func check(model: ModelKind, trainSamples: Int = 3000, extra: [String] = [], n: Int = 500) throws {
        if try run("/usr/bin/env", ["python3", "-c", "import torch, safetensors"]).status != 0 {
            throw XCTSkip("no CPU torch in this Python (launch/install-deps.sh --tests installs one from /opt/wheels when present): PyTorch interop check skipped")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("interop-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let train = try run(binary, ["train", "--model", model.rawValue, "--epochs", "1", "--train-samples", String(trainSamples),
                                     "--eval-samples", "64", "--eval-pgd-steps", "2", "--probe-samples", "0",
                                     "--test-probe-samples", "0", "--threads", "1", "--out", dir]
                                    + extra)
        XCTAssertEqual(train.status, 0, train.err)
        let weights = dir + "/model.safetensors"
        let export = try run(binary, ["export", "--checkpoint", dir, "--output", weights])
        XCTAssertEqual(export.status, 0, export.err)

        let eps: Float = 0.1
        let script = Self.root.appendingPathComponent("Tests/Reference/torch_predict.py").path
        let torch = try run("/usr/bin/env", ["python3", script, weights, model.rawValue, Self.data, String(n), String(eps)])
        XCTAssertEqual(torch.status, 0, torch.err)
        let json = try JSONSerialization.jsonObject(with: Data(torch.out.utf8)) as! [String: [Int]]

        // The same file in dist-train's own network.
        let network = model.build(input: Shape(1, 28, 28), classes: 10)
        try Weights.load(path: weights, into: network)
        let test = try DatasetLoader.load(.fashionMNIST, directory: Self.data, split: .test).prefix(n)
        var clean = [Int](), fgsm = [Int]()
        let xAdv = FloatBuffer(count: n * 784)
        test.images.withUnsafeBufferPointer { x in
            let logits = network.forward(x.baseAddress!, batch: n)
            clean = (0..<n).map { Energy.argmax(logits + $0 * 10, 10) }
            let indices = (0..<n).map(Int64.init)
            test.labels.withUnsafeBufferPointer { y in
                indices.withUnsafeBufferPointer { ix in
                    Attacker(network: network).perturb(x.baseAddress!, labels: y.baseAddress!, n: n,
                                                       settings: AttackSettings(kind: .fgsm, epsilon: eps), seed: 0,
                                                       stream: .evaluation, epoch: 0, indices: ix.baseAddress!,
                                                       output: xAdv.pointer)
                }
            }
            let adv = network.forward(xAdv.pointer, batch: n)
            fgsm = (0..<n).map { Energy.argmax(adv + $0 * 10, 10) }
        }
        XCTAssertEqual(json["labels"], test.labels.map(Int.init))
        XCTAssertEqual(json["clean"], clean, "clean predictions differ between PyTorch and dist-train")
        let same = zip(json["fgsm"] ?? [], fgsm).filter { $0 == $1 }.count
        print("\(model.rawValue): clean predictions equal on \(n)/\(n), FGSM on \(same)/\(n)")
        // A gradient component within rounding of zero can flip its sign between the two
        // implementations; a flipped pixel rarely changes a prediction.
        XCTAssertGreaterThanOrEqual(same, n - 2, "FGSM predictions differ on \(n - same) of \(n) samples")
    }

    /// A state_dict written by `safetensors.torch.save_file` itself (not through a fixture):
    /// `Weights.load(path:)` takes the F32 file and the network gives PyTorch's logits;
    /// `dist-train eval --weights` on it reports the accuracy of those logits; the BF16 file
    /// is refused, naming a tensor and its dtype.
    func testSaveFileStateDictIsImported() throws {
        if try run("/usr/bin/env", ["python3", "-c", "import torch, safetensors"]).status != 0 {
            throw XCTSkip("no CPU torch in this Python (launch/install-deps.sh --tests installs one from /opt/wheels when present): save_file import check skipped")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("save-file-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let n = 64, model = ModelKind.cnnSmall
        let script = Self.root.appendingPathComponent("Tests/Reference/torch_save_state_dict.py").path
        let torch = try run("/usr/bin/env", ["python3", script, dir, model.rawValue, Self.data, String(n)])
        XCTAssertEqual(torch.status, 0, torch.err)
        guard torch.status == 0 else { return }

        let reference = try SafeTensors.read(from: dir + "/reference.safetensors")
        let network = model.build(input: Shape(1, 28, 28), classes: 10)
        try Weights.load(path: dir + "/f32.safetensors", into: network)
        let x = FloatBuffer(try reference.floats("x"))
        XCTAssertEqual(x.count, n * 784)
        let expected = try reference.floats("logits")
        let logits = Array(UnsafeBufferPointer(start: network.forward(x.pointer, batch: n), count: n * 10))
        compare(logits.map(Double.init), expected.map(Double.init), "cnn-small logits from a save_file state_dict",
                absolute: 1e-5)

        // The command line on the same file: eval's clean accuracy is that of PyTorch's logits.
        let labels = try DatasetLoader.load(.fashionMNIST, directory: Self.data, split: .test).prefix(n).labels
        let torchCorrect = (0..<n).filter { i in
            expected.withUnsafeBufferPointer { Energy.argmax($0.baseAddress! + i * 10, 10) } == Int(labels[i])
        }.count
        let eval = try run(binary, ["eval", "--weights", dir + "/f32.safetensors", "--model", model.rawValue,
                                    "--data-dir", Self.data, "--attack", "clean", "--samples", String(n), "--threads", "1"])
        XCTAssertEqual(eval.status, 0, eval.err)
        let json = try JSONSerialization.jsonObject(with: Data(eval.out.utf8)) as? [String: Any]
        let clean = try XCTUnwrap((json?["clean"] as? NSNumber)?.doubleValue, eval.out)
        XCTAssertEqual(clean, Double(torchCorrect) / Double(n), accuracy: 1e-9)

        let bf16 = dir + "/bf16.safetensors"
        XCTAssertThrowsError(try Weights.load(path: bf16, into: model.build(input: Shape(1, 28, 28), classes: 10))) {
            let text = "\($0)"
            // The first tensor in state_dict order is the first one checked.
            for word in [bf16, "'0.weight'", "dtype BF16"] { XCTAssert(text.contains(word), "'\(text)' does not mention \(word)") }
        }
        let refused = try run(binary, ["eval", "--weights", bf16, "--model", model.rawValue, "--data-dir", Self.data,
                                       "--attack", "clean", "--samples", "8", "--threads", "1"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssert(refused.err.contains("BF16"), refused.err)
    }

    func testMLPExportPredictsTheSameInPyTorch() throws { try check(model: .mlp) }
    func testCNNSmallExportPredictsTheSameInPyTorch() throws { try check(model: .cnnSmall) }
    /// cnn-large (3.3M parameters, both MaxPool2d layers): a short clean run keeps the test to
    /// seconds; what matters is that strict loading succeeds and the two frameworks agree.
    func testCNNLargeExportPredictsTheSameInPyTorch() throws {
        try check(model: .cnnLarge, trainSamples: 128, extra: ["--at", "none", "--eval-every", "0"], n: 50)
    }
}

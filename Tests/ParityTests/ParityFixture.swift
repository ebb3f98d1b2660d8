import DataIO
import Foundation
import NeuralCore
import XCTest

/// One model's PyTorch reference file, Fixtures/<model>.safetensors, written by
/// Tests/Reference/make_parity.py (see docs/pytorch.md for its contents).
struct ParityFixture {
    let file: SafeTensors
    let kind: ModelKind
    let input: Shape
    let classes: Int
    /// Samples in the batch; the loss is scaled by 1/`batch`.
    let batch: Int
    let beta, gamma, epsilon, learningRate, momentum, weightDecay: Float
    let steps: Int

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures", isDirectory: true)

    init(_ kind: ModelKind) throws {
        let path = Self.directory.appendingPathComponent("\(kind.rawValue).safetensors").path
        file = try SafeTensors.read(from: path)
        self.kind = kind
        let m = file.metadata
        func number(_ key: String) throws -> Float {
            try XCTUnwrap(m[key].flatMap(Float.init), "\(path): metadata \(key) missing or not a number")
        }
        XCTAssertEqual(m["model"], kind.rawValue)
        let dims = try XCTUnwrap(m["input"]).split(separator: "x").compactMap { Int($0) }
        XCTAssertEqual(dims.count, 3)
        input = Shape(dims[0], dims[1], dims[2])
        classes = Int(try number("classes"))
        batch = Int(try number("batch"))
        beta = try number("beta"); gamma = try number("gamma"); epsilon = try number("epsilon")
        learningRate = try number("lr"); momentum = try number("momentum"); weightDecay = try number("weight_decay")
        steps = Int(try number("steps"))
    }

    func floats(_ name: String) throws -> [Float] { try file.floats(name) }
    func doubles(_ name: String) throws -> [Double] { try file.doubles(name) }
    func labels() throws -> [Int32] { try file.int64s("labels").map { Int32($0) } }
    func has(_ name: String) -> Bool { file.tensors[name] != nil }

    /// Indices at which a tensor's values are stored, or nil when it is stored whole
    /// (cnn-large keeps only a subset of its large tensors).
    func subset(_ name: String) throws -> [Int]? {
        has("index.\(name)") ? try file.int64s("index.\(name)").map { Int($0) } : nil
    }

    /// A fresh network with the fixture's initial weights: copied tensor by tensor from
    /// `param.<name>` through `namedParameters`, or (cnn-large) regenerated from KeyedRandom
    /// exactly as the script drew them and checked against the stored per-tensor sums.
    func network() throws -> Network {
        let net = kind.build(input: input, classes: classes)
        let p = net.parameters.pointer
        let stored = file.tensors.keys.filter { $0.hasPrefix("param.") }
        if !stored.isEmpty {
            XCTAssertEqual(Set(stored), Set(net.namedParameters.map { "param.\($0.name)" }),
                           "\(kind): state_dict keys differ from namedParameters")
            for (name, shape, offset) in net.namedParameters {
                let t = try file.tensor("param.\(name)")
                XCTAssertEqual(t.shape, shape, "\(kind) \(name): PyTorch shape \(t.shape), Swift \(shape)")
                let values = try floats("param.\(name)")
                guard values.count == shape.reduce(1, *) else { throw ParityError.shape(name) }
                for (j, v) in values.enumerated() { p[offset + j] = v }
            }
        } else {
            let seed = try XCTUnwrap(file.metadata["seed"].flatMap(UInt64.init))
            for (t, (name, shape, offset)) in net.namedParameters.enumerated() {
                let bound = try floats("init.bound.\(name)")[0]
                var rng = KeyedRandom(seed: seed, keys: UInt64(t))
                var sum: Double = 0
                for j in 0..<shape.reduce(1, *) {
                    p[offset + j] = rng.uniform(bound)
                    sum += Double(p[offset + j])
                }
                let expected = try doubles("init.sum.\(name)")[0]
                XCTAssertEqual(sum, expected, accuracy: 1e-9 * max(1, abs(expected)),
                               "\(kind) \(name): regenerated weights differ from the script's")
            }
        }
        return net
    }
}

enum ParityError: Error { case shape(String) }

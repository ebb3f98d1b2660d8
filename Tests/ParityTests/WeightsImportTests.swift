import DataIO
import Foundation
import NeuralCore
import Training
import XCTest

/// Importing PyTorch-written weights through `Weights.load(path:into:)`, the code behind
/// `train --weights` and `eval --weights`, and the exported names and shapes against the
/// state_dicts documented in docs/pytorch.md.
final class WeightsImportTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    func temporaryFile(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("weights-import-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir.appendingPathComponent(name).path
    }

    /// The fixture's `param.<key>` tensors, as PyTorch's `save_file` wrote their bytes, renamed
    /// to the bare state_dict keys: what `save_file(model.state_dict(), …)` holds.
    func stateDict(_ f: ParityFixture) throws -> SafeTensors {
        var st = SafeTensors()
        for (name, t) in f.file.tensors where name.hasPrefix("param.") {
            st.tensors[String(name.dropFirst("param.".count))] = t
        }
        XCTAssertFalse(st.tensors.isEmpty, "\(f.kind): the fixture stores no param.* tensors")
        return st
    }

    /// mlp and cnn-small store PyTorch's initial weights: loaded from a file through
    /// `Weights.load(path:)` they equal the fixture's, and the network computes PyTorch's logits.
    func testPyTorchStateDictLoadsThroughWeights() throws {
        for kind in [ModelKind.mlp, .cnnSmall] {
            let f = try ParityFixture(kind)
            let path = temporaryFile("\(kind.rawValue).safetensors")
            try stateDict(f).write(to: path)
            let net = kind.build(input: f.input, classes: f.classes)
            try Weights.load(path: path, into: net)
            for (name, shape, offset) in net.namedParameters {
                let loaded = Array(UnsafeBufferPointer(start: net.parameters.pointer + offset, count: shape.reduce(1, *)))
                XCTAssertEqual(loaded, try f.floats("param.\(name)"), "\(kind.rawValue) \(name): loaded values differ")
            }
            // The logits of x (the first B rows of the fixture's logits) from the loaded weights.
            let x = FloatBuffer(try f.floats("x"))
            let logits = net.forward(x.pointer, batch: f.batch)
            let expected = Array(try f.doubles("logits").prefix(f.batch * f.classes))
            compare(Array(UnsafeBufferPointer(start: logits, count: f.batch * f.classes)).map(Double.init), expected,
                    "\(kind.rawValue) logits from weights loaded with Weights.load")
        }
    }

    /// Any dtype but F32 is refused, naming the tensor and its dtype; the network is not used.
    func testNonF32TensorsAreRefusedNamingTheTensor() throws {
        let f = try ParityFixture(.cnnSmall)
        let base = try stateDict(f)
        let name = "5.bias"
        let values = try base.floats(name)
        let shape = try base.tensor(name).shape
        var f64 = base; f64.set(name, doubles: values.map(Double.init), shape: shape)
        var f16 = base
        f16.tensors[name] = SafeTensors.Tensor(dtype: "F16", shape: shape,
                                               bytes: values.map { Float16($0).bitPattern }.withUnsafeBytes { Array($0) })
        var bf16 = base
        bf16.tensors[name] = SafeTensors.Tensor(dtype: "BF16", shape: shape,
                                                bytes: values.map { UInt16($0.bitPattern >> 16) }.withUnsafeBytes { Array($0) })
        var i64 = base; i64.set(name, int64s: values.map { Int64($0) }, shape: shape)
        for (dtype, st) in [("F64", f64), ("F16", f16), ("BF16", bf16), ("I64", i64)] {
            let path = temporaryFile("\(dtype).safetensors")
            try st.write(to: path)
            let net = ModelKind.cnnSmall.build(input: f.input, classes: f.classes)
            XCTAssertThrowsError(try Weights.load(path: path, into: net), "\(dtype) was accepted") { error in
                let text = "\(error)"
                for word in [path, "'\(name)'", "dtype \(dtype)", "F32"] {
                    XCTAssert(text.contains(word), "'\(text)' does not mention \(word)")
                }
            }
        }
        // The same file with F32 everywhere loads.
        let path = temporaryFile("f32.safetensors")
        try base.write(to: path)
        XCTAssertNoThrow(try Weights.load(path: path, into: ModelKind.cnnSmall.build(input: f.input, classes: f.classes)))
    }

    /// The documented state_dict of each model: `(key, shape)` rows of its table in
    /// docs/pytorch.md and its parameter count.
    func documentedStateDicts() throws -> [String: (keys: [(String, [Int])], parameters: Int)] {
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/pytorch.md"), encoding: .utf8)
        var out: [String: (keys: [(String, [Int])], parameters: Int)] = [:]
        var model: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("## ") { model = nil }
            if line.hasPrefix("### ") {
                let name = line.dropFirst(4).split(separator: " ").first.map(String.init)
                model = ModelKind(rawValue: name ?? "") != nil ? name : nil
                if let model { out[model] = ([], 0) }
                continue
            }
            guard let m = model else { continue }
            // | `1.weight` | [256, 784] |
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            if line.hasPrefix("|"), cells.count == 2, cells[0].hasPrefix("`"), cells[1].hasPrefix("[") {
                let key = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
                let dims = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: ",")
                    .compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                out[m]!.keys.append((key, dims))
            } else if let r = line.range(of: " parameters."), let n = Int(line[..<r.lowerBound].filter(\.isNumber)) {
                // "3,274,634 parameters. 3136 = 64·7·7."
                out[m]!.parameters = n
            }
        }
        return out
    }

    /// `Weights.safetensors(of:)`, what `dist-train export` writes, has exactly the documented
    /// keys, in state_dict order in the flat parameter buffer, with the documented shapes, as F32.
    func testExportedNamesAndShapesAreTheDocumentedStateDicts() throws {
        let docs = try documentedStateDicts()
        XCTAssertEqual(Set(docs.keys), Set(ModelKind.allCases.map(\.rawValue)), "docs/pytorch.md documents every model")
        for kind in ModelKind.allCases {
            guard let documented = docs[kind.rawValue] else { continue }
            XCTAssertFalse(documented.keys.isEmpty, "\(kind.rawValue): no table rows parsed from docs/pytorch.md")
            let net = kind.build(input: Shape(1, 28, 28), classes: 10)
            XCTAssertEqual(net.namedParameters.map(\.name), documented.keys.map(\.0), "\(kind.rawValue) key order")
            XCTAssertEqual(net.parameterCount, documented.parameters, "\(kind.rawValue) parameter count")
            // Weight then bias, packed in state_dict order.
            var offset = 0
            for p in net.namedParameters {
                XCTAssertEqual(p.offset, offset, "\(kind.rawValue) \(p.name) offset")
                offset += p.shape.reduce(1, *)
            }
            XCTAssertEqual(offset, net.parameterCount)
            let st = try SafeTensors.decode(Weights.safetensors(of: net).encoded(), file: "\(kind.rawValue) export")
            XCTAssertEqual(st.tensors.keys.sorted(), documented.keys.map(\.0).sorted(), "\(kind.rawValue) exported names")
            for (key, shape) in documented.keys {
                XCTAssertEqual(st.tensors[key]?.shape, shape, "\(kind.rawValue) \(key) shape")
                XCTAssertEqual(st.tensors[key]?.dtype, "F32", "\(kind.rawValue) \(key) dtype")
            }
        }
    }
}

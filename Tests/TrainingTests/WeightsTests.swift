import DataIO
import NeuralCore
import Training
import XCTest

/// Safetensors import: a round trip, and a clear error naming the tensor for every mismatch.
final class WeightsTests: XCTestCase {
    func net() -> Network {
        let n = ModelKind.cnnSmall.build(input: Shape(1, 28, 28), classes: 10)
        n.initialize(seed: 5)
        return n
    }

    func expectError(_ st: SafeTensors, mentions words: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Weights.load(st, into: net()), file: file, line: line) { error in
            for w in words { XCTAssert("\(error)".contains(w), "'\(error)' does not mention \(w)", file: file, line: line) }
        }
    }

    func testRoundTripAndErrorsNameTheTensor() throws {
        let a = net()
        var st = Weights.safetensors(of: a, metadata: ["model": "cnn-small"])
        st = try SafeTensors.decode(st.encoded(), file: "weights.safetensors")
        let b = ModelKind.cnnSmall.build(input: Shape(1, 28, 28), classes: 10)
        try Weights.load(st, into: b)
        XCTAssertEqual(Array(b.parameters.buffer.prefix(b.parameterCount)), Array(a.parameters.buffer.prefix(a.parameterCount)))

        var missing = st; missing.tensors["5.weight"] = nil
        expectError(missing, mentions: ["weights.safetensors", "missing tensor '5.weight'"])
        var extra = st; extra.set("9.weight", floats: [1], shape: [1])
        expectError(extra, mentions: ["unexpected tensor '9.weight'"])
        var shape = st; shape.set("7.weight", floats: [Float](repeating: 0, count: 1000), shape: [10, 100, 1])
        expectError(shape, mentions: ["'7.weight'", "[10, 100, 1]", "[10, 100]"])
        var dtype = st; dtype.set("0.bias", int64s: [Int64](repeating: 0, count: 16), shape: [16])
        expectError(dtype, mentions: ["'0.bias'", "I64"])
        var nan = st; nan.set("0.bias", floats: [Float](repeating: .nan, count: 16), shape: [16])
        expectError(nan, mentions: ["'0.bias'", "NaN"])
        // mlp weights are not a cnn-small.
        let mlp = ModelKind.mlp.build(input: Shape(1, 28, 28), classes: 10)
        expectError(Weights.safetensors(of: mlp), mentions: ["unexpected tensor '1.bias'"])
    }
}

import DataIO
import Foundation
import NeuralCore

public struct WeightsError: Error, CustomStringConvertible {
    public let file: String
    public let reason: String
    public var description: String { "\(file): \(reason)" }
}

/// Moves a network's parameters to and from safetensors files with PyTorch's state_dict
/// names and layouts (see docs/pytorch.md), so `load_state_dict(strict=True)` accepts them.
public enum Weights {
    /// The parameters as F32 tensors named like the PyTorch `nn.Sequential`'s state_dict.
    public static func safetensors(of network: Network, metadata: [String: String] = [:]) -> SafeTensors {
        var st = SafeTensors(metadata: metadata)
        for p in network.namedParameters {
            let n = p.shape.reduce(1, *)
            st.set(p.name, floats: Array(UnsafeBufferPointer(start: network.parameters.pointer + p.offset, count: n)),
                   shape: p.shape)
        }
        return st
    }

    /// Copies every tensor of `st` into the network. A missing or extra name, a wrong shape,
    /// a dtype other than F32 or a non-finite value is an error naming the tensor.
    ///
    /// Only F32 is accepted, as the network computes in float32: an F64 file would lose
    /// precision silently, and F16/BF16 weights usually mean a half-precision model whose
    /// owner should choose the conversion (`{k: v.float() for k, v in state_dict.items()}`).
    public static func load(_ st: SafeTensors, into network: Network) throws {
        let expected = network.namedParameters
        let names = Set(expected.map(\.name))
        if let extra = st.tensors.keys.sorted().first(where: { !names.contains($0) }) {
            throw WeightsError(file: st.source, reason: "unexpected tensor '\(extra)': the model has \(expected.map(\.name).joined(separator: ", "))")
        }
        for p in expected {
            guard let t = st.tensors[p.name] else {
                throw WeightsError(file: st.source, reason: "missing tensor '\(p.name)' (shape \(p.shape))")
            }
            guard t.shape == p.shape else {
                throw WeightsError(file: st.source, reason: "tensor '\(p.name)' has shape \(t.shape), the model needs \(p.shape)")
            }
            guard t.dtype == "F32" else {
                throw WeightsError(file: st.source, reason: "tensor '\(p.name)' has dtype \(t.dtype), expected F32 " +
                                   "(in PyTorch, save {k: v.float() for k, v in model.state_dict().items()})")
            }
            let values = try st.floats(p.name)
            guard values.allSatisfy(\.isFinite) else {
                throw WeightsError(file: st.source, reason: "tensor '\(p.name)' holds NaN or infinite values")
            }
            values.withUnsafeBufferPointer { (network.parameters.pointer + p.offset).update(from: $0.baseAddress!, count: values.count) }
        }
    }

    public static func load(path: String, into network: Network) throws {
        try load(try SafeTensors.read(from: path), into: network)
    }

    /// Metadata recorded in exported files (all strings, as safetensors requires).
    public static func metadata(config: TrainConfig, network: Network, configJSON: String) -> [String: String] {
        let s = network.inputShape
        return ["format": "pt", "producer": "dist-train", "model": config.model.rawValue,
                "dataset": config.dataset.rawValue, "input_shape": "[\(s.channels), \(s.height), \(s.width)]",
                "classes": String(network.classes), "eps": String(config.attack.epsilon), "config": configJSON]
    }
}

import ArgumentParser
import DataIO
import Foundation
import NeuralCore
import Training

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a checkpoint's parameters as safetensors that PyTorch loads.",
        discussion: """
            Tensors are F32, named like the state_dict of the model's torch.nn.Sequential \
            (see docs/pytorch.md), so `model.load_state_dict(safetensors.torch.load_file(FILE), strict=True)` \
            succeeds. __metadata__ records the model, dataset, input shape, eps and the run's configuration.
            """)

    @Option(help: "A checkpoint file, or a run directory (its newest valid checkpoint).")
    var checkpoint: String
    @Option(help: "The safetensors file to write.")
    var output: String

    func run() throws {
        do {
            let (path, ckpt) = try resolve()
            let config = try TrainConfig.decode(Data(ckpt.configJSON.utf8), source: path + " (configuration)")
            let network = config.model.build(input: config.dataset.inputShape, classes: 10)
            guard ckpt.parameters.count == network.parameterCount else {
                throw CLIError("\(path): \(ckpt.parameters.count) parameters, but \(config.model.rawValue) has \(network.parameterCount)")
            }
            _ = network.parameters.buffer.update(fromContentsOf: ckpt.parameters)
            let st = Weights.safetensors(of: network, metadata: Weights.metadata(config: config, network: network,
                                                                                  configJSON: ckpt.configJSON))
            try st.write(to: output)
            print("wrote \(output): \(config.model.rawValue), \(network.namedParameters.count) tensors, " +
                  "\(network.parameterCount) parameters, from \(path) (global step \(ckpt.globalStep))")
        } catch let e as CLIError {
            throw e
        } catch {
            throw CLIError("\(error)")
        }
    }

    private func resolve() throws -> (String, Checkpoint) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: checkpoint, isDirectory: &isDirectory) else {
            throw CLIError("--checkpoint \(checkpoint): no such file or directory")
        }
        if !isDirectory.boolValue { return (checkpoint, try Checkpoint.read(from: checkpoint)) }
        let files = RunFiles(directory: checkpoint)
        guard let found = files.newestValidCheckpoint(warn: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) else {
            throw CLIError("--checkpoint \(checkpoint): no valid checkpoint in \(files.checkpointDirectory)")
        }
        return (found.path, found.checkpoint)
    }
}

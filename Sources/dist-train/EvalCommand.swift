import ArgumentParser

/// Placeholder; replaced by the evaluation command (issue: AutoAttack-grade evaluation).
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eval", abstract: "Evaluate robustness (not yet available).")
    func run() throws { throw CLIError("eval is not implemented yet") }
}

import Adversarial
import DataIO
import NeuralCore
import Training
import XCTest

/// The Swift network, objective, attack and optimizer against PyTorch on the same weights and
/// batch (fixtures from Tests/Reference/make_parity.py; contents and tolerances in docs/pytorch.md).
final class ParityTests: XCTestCase {
    func testMLPObjectiveAndGradients() throws { try checkObjective(.mlp) }
    func testCNNSmallObjectiveAndGradients() throws { try checkObjective(.cnnSmall) }
    func testCNNLargeObjectiveAndGradients() throws { try checkObjective(.cnnLarge) }

    func testMLPFGSM() throws { try checkFGSM(.mlp) }
    func testCNNSmallFGSM() throws { try checkFGSM(.cnnSmall) }
    func testCNNLargeFGSM() throws { try checkFGSM(.cnnLarge) }

    func testMLPTenSGDSteps() throws { try checkSGD(.mlp) }
    func testCNNSmallTenSGDSteps() throws { try checkSGD(.cnnSmall) }
    func testCNNLargeTenSGDSteps() throws { try checkSGD(.cnnLarge) }

    /// The fixture's batch as the trainer feeds it: [x; x*] (clean rows first) and labels.
    private struct Batch {
        let inputs: FloatBuffer
        let labels: [Int32]
        let dLogits: FloatBuffer

        init(_ f: ParityFixture) throws {
            let x = try f.floats("x"), xa = try f.floats("x_adv")
            XCTAssertEqual(x.count, f.batch * f.input.count)
            XCTAssertEqual(xa.count, x.count)
            inputs = FloatBuffer(x + xa)
            labels = try f.labels()
            XCTAssertEqual(labels.count, f.batch)
            dLogits = FloatBuffer(count: 2 * f.batch * f.classes)
        }

        /// Forward, objective, zeroed gradients, backward; returns the loss (1/B)·Σ.
        func step(_ net: Network, _ objective: EnergyObjective, _ f: ParityFixture) -> Double {
            let n = f.batch
            let logits = net.forward(inputs.pointer, batch: 2 * n)
            let sum = labels.withUnsafeBufferPointer {
                objective.compute(logits: logits, n: n, classes: f.classes, labels: $0.baseAddress!, reference: nil,
                                  scale: 1 / Float(n), dLogits: dLogits.pointer)
            }
            net.zeroGradients()
            net.backward(dLogits.pointer, parameterGradients: true)
            return sum / Double(n)
        }
    }

    /// Logits, energies, CE, DER, AAE mask, loss and every parameter gradient, modes all and aae.
    private func checkObjective(_ kind: ModelKind) throws {
        let f = try ParityFixture(kind)
        let net = try f.network()
        let batch = try Batch(f)
        let n = f.batch, k = f.classes
        for mode in [DERMode.all, .aae] {
            let objective = EnergyObjective(mode: mode, beta: f.beta, gamma: f.gamma)
            let loss = batch.step(net, objective, f)
            let tag = "\(kind.rawValue) \(mode.rawValue)"
            compare(Array(UnsafeBufferPointer(start: net.logits, count: 2 * n * k)), try f.doubles("logits"),
                    "\(tag) logits")
            let perSample: [(String, FloatBuffer)] = [
                ("energy_clean", objective.energyClean), ("joint_clean", objective.jointClean),
                ("energy_adv", objective.energyAdv), ("joint_adv", objective.jointAdv),
                ("ce_clean", objective.ceClean), ("ce_adv", objective.ceAdv), ("der", objective.der),
            ]
            for (name, buffer) in perSample {
                compare(Array(buffer.array.prefix(n)), try f.doubles(name), "\(tag) \(name)")
            }
            let mask = try f.floats("aae")
            XCTAssertEqual(Array(objective.aae.array.prefix(n)), mask, "\(tag) AAE mask")
            XCTAssert(mask.contains(0) && mask.contains(1), "the fixture should mix AAE and non-AAE samples")
            XCTAssert(try f.floats("der").contains { $0 > 0 }, "the fixture should have active DER terms")
            compare([loss], try f.doubles("\(mode.rawValue).loss"), "\(tag) loss")

            for (name, shape, offset) in net.namedParameters {
                let g = UnsafeBufferPointer(start: net.gradients.pointer + offset, count: shape.reduce(1, *))
                try compareTensor(g, f, "\(mode.rawValue).grad", name, "\(tag) grad")
                compare([norm(g)], try f.doubles("\(mode.rawValue).grad_norm.\(name)"), "\(tag) grad norm \(name)",
                        absolute: Tolerance.parameterAbsolute)
            }
        }
    }

    /// `Attacker` FGSM against torch's x + ε·sign(∇ₓ Σ CE), clamped: equal except where the
    /// input gradient is so close to 0 that float32 and float64 disagree on its sign.
    private func checkFGSM(_ kind: ModelKind) throws {
        let f = try ParityFixture(kind)
        let net = try f.network()
        let n = f.batch
        let x = FloatBuffer(try f.floats("x"))
        let output = FloatBuffer(count: x.count)
        let labels = try f.labels()
        let indices = (0..<n).map(Int64.init)
        let attacker = Attacker(network: net)
        labels.withUnsafeBufferPointer { l in
            indices.withUnsafeBufferPointer { i in
                attacker.perturb(x.pointer, labels: l.baseAddress!, n: n,
                                 settings: AttackSettings(kind: .fgsm, epsilon: f.epsilon), seed: 0,
                                 stream: .training, epoch: 0, indices: i.baseAddress!, output: output.pointer)
            }
        }
        let expected = try f.floats("x_fgsm")
        XCTAssertEqual(expected.count, x.count)
        let equal = zip(output.array, expected).filter { $0 == $1 }.count
        print("PARITY \(kind.rawValue) FGSM: \(equal)/\(x.count) elements equal")
        XCTAssertGreaterThanOrEqual(Double(equal), 0.999 * Double(x.count), "\(kind) FGSM x* differs from torch's")
        let moved = zip(output.array, x.array).filter { abs($0 - $1) > 1e-7 }.count
        XCTAssertGreaterThan(moved, x.count / 2, "FGSM should move most pixels")
        // The attack's starting loss is CE at x itself.
        compare(Array(attacker.startLoss.array.prefix(n)), try f.doubles("ce_clean"), "\(kind.rawValue) FGSM start CE")
    }

    /// Ten SGD steps (momentum, weight decay) on the fixed batch: the loss before each step and
    /// the final parameters.
    private func checkSGD(_ kind: ModelKind) throws {
        let f = try ParityFixture(kind)
        let net = try f.network()
        let initial = net.parameters.array
        let batch = try Batch(f)
        let mode = try XCTUnwrap(f.file.metadata["sgd_mode"].flatMap(DERMode.init(rawValue:)))
        let objective = EnergyObjective(mode: mode, beta: f.beta, gamma: f.gamma)
        let sgd = SGD(parameterCount: net.parameterCount, momentum: f.momentum, weightDecay: f.weightDecay)
        var losses: [Double] = []
        for _ in 0..<f.steps {
            losses.append(batch.step(net, objective, f))
            sgd.step(parameters: net.parameters.pointer, gradients: net.gradients.pointer, learningRate: f.learningRate)
        }
        let tag = "\(kind.rawValue) sgd"
        compare(losses, try f.doubles("sgd.loss"), "\(tag) losses")
        for (name, shape, offset) in net.namedParameters {
            let p = UnsafeBufferPointer(start: net.parameters.pointer + offset, count: shape.reduce(1, *))
            try compareTensor(p, f, "sgd.param", name, "\(tag) final")
            let update = zip(p, initial[offset..<(offset + p.count)])
                .reduce(0.0) { $0 + (Double($1.0) - Double($1.1)) * (Double($1.0) - Double($1.1)) }.squareRoot()
            compare([update], try f.doubles("sgd.update_norm.\(name)"), "\(tag) update norm \(name)",
                    absolute: Tolerance.parameterAbsolute)
        }
    }

    /// Compares a parameter-sized tensor with `<prefix>.<name>`, whole or at the fixture's
    /// subset indices.
    private func compareTensor(_ values: UnsafeBufferPointer<Float>, _ f: ParityFixture, _ prefix: String,
                               _ name: String, _ what: String, line: UInt = #line) throws {
        let floor = prefix == "sgd.param" ? Tolerance.trajectoryAbsolute : Tolerance.parameterAbsolute
        let expected = try f.doubles("\(prefix).\(name)")
        if let indices = try f.subset(name) {
            guard indices.allSatisfy({ values.indices.contains($0) }) else { return XCTFail("\(name): bad subset") }
            compare(indices.map { values[$0] }, expected, "\(what) \(name) (\(indices.count) of \(values.count))",
                    absolute: floor, line: line)
        } else {
            compare(Array(values), expected, "\(what) \(name)", absolute: floor, line: line)
        }
    }
}

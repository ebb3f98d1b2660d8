import DataIO
import Foundation
import XCTest

/// `dist-train eval` as a user runs it: one JSON line, the same numbers under 1 and 2 ranks,
/// AutoAttack never above its components, and named errors for bad input.
final class EvalCommandTests: XCTestCase {
    /// Weights of an mlp trained for one short epoch by the binary itself and exported, made
    /// once for the whole class.
    nonisolated(unsafe) private static var weightsPath: String?

    override class func tearDown() {
        if let weightsPath { try? FileManager.default.removeItem(atPath: (weightsPath as NSString).deletingLastPathComponent) }
        weightsPath = nil
        super.tearDown()
    }

    static func trainedWeights() throws -> String {
        if let weightsPath { return weightsPath }
        let dir = Launcher.temporaryDirectory("eval-weights")
        let run = try Launcher.run(Launcher.binary, ["train", "--data-dir", Launcher.dataDirectory, "--model", "mlp",
                                                     "--at", "fgsm-rs", "--train-samples", "12000", "--batch-size", "100",
                                                     "--epochs", "2", "--eval-every", "0", "--probe-samples", "0",
                                                     "--test-probe-samples", "0", "--threads", "1", "--out", dir + "/run"])
        guard run.status == 0 else { XCTFail("training failed:\n\(run.stderr)"); throw XCTSkip("no weights") }
        let path = dir + "/mlp.safetensors"
        let export = try Launcher.run(Launcher.binary, ["export", "--checkpoint", dir + "/run", "--output", path])
        guard export.status == 0 else { XCTFail("export failed:\n\(export.stderr)"); throw XCTSkip("no weights") }
        weightsPath = path
        return path
    }

    /// Quick settings: reduced iteration counts (the defaults are the reference ones).
    func evalArgs(_ weights: String, attacks: String, samples: Int = 48) -> [String] {
        ["eval", "--weights", weights, "--model", "mlp", "--data-dir", Launcher.dataDirectory, "--attack", attacks,
         "--eps", "0.1", "--samples", String(samples), "--pgd-steps", "5", "--apgd-iterations", "20",
         "--fab-iterations", "10", "--square-queries", "150", "--seed", "3", "--threads", "1"]
    }

    func parse(_ r: Launcher.Result, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Double] {
        XCTAssertEqual(r.status, 0, "eval failed:\n\(r.stderr)", file: file, line: line)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one JSON line on stdout:\n\(r.stdout)", file: file, line: line)
        guard let text = lines.last, let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            XCTFail("not JSON: \(r.stdout)", file: file, line: line); return [:]
        }
        var out: [String: Double] = [:]
        for (k, v) in object { if let n = v as? NSNumber { out[k] = n.doubleValue } }
        return out
    }

    func testOneJSONLineWithEveryAttack() throws {
        let weights = try Self.trainedWeights()
        let all = "clean,fgsm,pgd,apgd-ce,apgd-t,fab-t,square,aa"
        let result = try parse(try Launcher.run(Launcher.binary, evalArgs(weights, attacks: all)))
        XCTAssertEqual(result["samples"], 48)
        XCTAssertEqual(result["eps"], 0.1)
        for name in all.split(separator: ",") {
            guard let acc = result[String(name)] else { XCTFail("no \(name) in \(result)"); continue }
            XCTAssert(acc >= 0 && acc <= 1, "\(name) = \(acc)")
            if name != "clean" { XCTAssertLessThanOrEqual(acc, result["clean"]!, String(name)) }
        }
        XCTAssertGreaterThan(result["clean"]!, 0.5, "the model learned something")
        XCTAssertLessThan(result["aa"]!, result["clean"]!, "AutoAttack finds adversarial examples")
    }

    /// np = 1 (a plain process) and np = 2 under mpirun print the same accuracies: random
    /// starts are keyed by test index and every attack is per sample.
    func testResultsDoNotDependOnTheNumberOfRanks() throws {
        let weights = try Self.trainedWeights()
        // 45 samples: uneven shards at np = 2 (22 + 23).
        let args = evalArgs(weights, attacks: "clean,pgd,apgd-ce,apgd-t,fab-t,square,aa", samples: 45)
        let one = try parse(try Launcher.train(ranks: 1, args))
        let two = try parse(try Launcher.train(ranks: 2, args))
        XCTAssertEqual(Set(one.keys), Set(two.keys))
        for (k, v) in one {
            // Within rounding: at most one sample may flip on a float32 tie.
            XCTAssertEqual(v, two[k] ?? -1, accuracy: 1.0 / 45 + 1e-9, "\(k): np=1 \(v), np=2 \(two[k] ?? -1)")
        }
        print("eval np=1: \(one)\neval np=2: \(two)")
    }

    /// `--attack aa` alone is never above any component alone (separate processes).
    func testAANeverAboveItsComponents() throws {
        let weights = try Self.trainedWeights()
        let aa = try parse(try Launcher.run(Launcher.binary, evalArgs(weights, attacks: "aa")))
        let parts = try parse(try Launcher.run(Launcher.binary, evalArgs(weights, attacks: "apgd-ce,apgd-t,fab-t,square")))
        for c in ["apgd-ce", "apgd-t", "fab-t", "square"] {
            XCTAssertLessThanOrEqual(aa["aa"]!, parts[c]!, "aa \(aa["aa"]!) > \(c) \(parts[c]!)")
        }
        XCTAssertEqual(aa["clean"], parts["clean"])
    }

    /// `--seed`: the same seed reproduces every number; another seed leaves the attacks
    /// without randomness (clean, FGSM, FAB-T with one restart: it starts at x) unchanged.
    /// `--restarts`: restart 0 is the same run whatever the count, and later restarts attack
    /// only the samples still robust, so more restarts never raise an accuracy of the
    /// APGD/FAB/Square family or of aa.
    func testSeedAndRestarts() throws {
        let weights = try Self.trainedWeights()
        func args(seed: Int, restarts: Int) -> [String] {
            ["eval", "--weights", weights, "--model", "mlp", "--data-dir", Launcher.dataDirectory,
             "--attack", "clean,fgsm,pgd,apgd-ce,apgd-t,fab-t,square,aa", "--eps", "0.1", "--samples", "40",
             "--pgd-steps", "3", "--apgd-iterations", "8", "--fab-iterations", "5", "--square-queries", "40",
             "--seed", String(seed), "--restarts", String(restarts), "--threads", "1"]
        }
        let a = try Launcher.run(Launcher.binary, args(seed: 3, restarts: 1))
        let again = try Launcher.run(Launcher.binary, args(seed: 3, restarts: 1))
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(a.stdout, again.stdout, "the same --seed gives the same JSON line")
        let first = try parse(a)
        let other = try parse(try Launcher.run(Launcher.binary, args(seed: 4, restarts: 1)))
        for k in ["samples", "eps", "clean", "fgsm", "fab-t"] {
            XCTAssertEqual(first[k], other[k], "\(k) does not depend on --seed")
        }
        XCTAssertEqual(Set(first.keys), Set(other.keys))

        let more = try parse(try Launcher.run(Launcher.binary, args(seed: 3, restarts: 3)))
        XCTAssertEqual(more["clean"], first["clean"])
        XCTAssertEqual(more["fgsm"], first["fgsm"], "FGSM has no restarts")
        for k in ["apgd-ce", "apgd-t", "fab-t", "square", "aa"] {
            guard let one = first[k], let three = more[k] else { XCTFail("no \(k)"); continue }
            XCTAssertLessThanOrEqual(three, one, "\(k): 3 restarts \(three) > 1 restart \(one)")
        }
        // The option reaches the attacks: Square with 5 queries draws new squares in each of
        // 8 restarts, which fool a few more of 100 samples (2-3 at seeds 3, 4 and 5 when written;
        // a count over APGD/FAB on 40 samples moved with every change to the trained weights).
        func square(restarts: Int) throws -> Double {
            let r = try parse(try Launcher.run(Launcher.binary, [
                "eval", "--weights", weights, "--model", "mlp", "--data-dir", Launcher.dataDirectory,
                "--attack", "square", "--eps", "0.1", "--samples", "100", "--square-queries", "5",
                "--seed", "3", "--restarts", String(restarts), "--threads", "1"]))
            return try XCTUnwrap(r["square"])
        }
        let squareOne = try square(restarts: 1), squareEight = try square(restarts: 8)
        XCTAssertLessThan(squareEight, squareOne, "--restarts 8 should lower Square's accuracy with 5 queries")
        print("eval restarts 1: \(first)\neval restarts 3: \(more)\neval seed 4: \(other)")
    }

    func expectFailure(_ args: [String], mentioning words: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try Launcher.run(Launcher.binary, args, timeout: 60)
        XCTAssertNotEqual(r.status, 0, "expected failure for \(args)", file: file, line: line)
        for w in words {
            XCTAssert(r.stderr.contains(w), "stderr for \(args) does not mention '\(w)':\n\(r.stderr)", file: file, line: line)
        }
    }

    func testBadInputIsNamed() throws {
        let data = ["--data-dir", Launcher.dataDirectory, "--samples", "8", "--threads", "1"]
        let missing = "/nonexistent/weights.safetensors"
        try expectFailure(["eval", "--weights", missing, "--model", "mlp"] + data, mentioning: [missing])
        try expectFailure(["eval", "--model", "mlp"] + data, mentioning: ["--weights"])
        let weights = try Self.trainedWeights()
        try expectFailure(["eval", "--weights", weights, "--model", "cnn-small"] + data,
                          mentioning: [weights, "cnn-small", "mlp"])
        try expectFailure(["eval", "--weights", weights, "--attack", "pgd,cw"] + data, mentioning: ["--attack", "cw"])
        try expectFailure(["eval", "--weights", weights, "--eps=-0.1"] + data, mentioning: ["--eps", "-0.1"])
        try expectFailure(["eval", "--weights", weights, "--eps", "-0.1"] + data, mentioning: ["--eps"])
        try expectFailure(["eval", "--weights", weights, "--samples", "-5"], mentioning: ["--samples"])
        let notWeights = Launcher.temporaryDirectory("bad-weights") + "/junk.safetensors"
        _ = FileManager.default.createFile(atPath: notWeights, contents: Data("not a safetensors file".utf8))
        try expectFailure(["eval", "--weights", notWeights, "--model", "mlp"] + data, mentioning: [notWeights])
        try? FileManager.default.removeItem(atPath: (notWeights as NSString).deletingLastPathComponent)
        // Under mpirun a failing rank 0 ends every rank.
        let r = try Launcher.train(ranks: 2, ["eval", "--weights", weights, "--model", "cnn-small"] + data, timeout: 120)
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("cnn-small"), r.stderr)
    }

    func testHelpNamesTheAttacks() throws {
        let r = try Launcher.run(Launcher.binary, ["eval", "--help"])
        XCTAssertEqual(r.status, 0)
        for word in ["--weights", "--attack", "apgd-ce", "apgd-t", "fab-t", "square", "aa", "--eps", "--samples",
                     "--pgd-steps", "--restarts", "--seed", "--dataset", "--data-dir", "--threads"] {
            XCTAssert(r.stdout.contains(word), "eval --help does not mention \(word)")
        }
    }
}

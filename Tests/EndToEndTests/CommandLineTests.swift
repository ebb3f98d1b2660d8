import DataIO
import Foundation
import XCTest

/// The command line as a user meets it: help text, option validation, and clear errors
/// with a non-zero exit on bad input.
final class CommandLineTests: XCTestCase {
    func testHelpExplainsTheOptions() throws {
        let r = try Launcher.run(Launcher.binary, ["train", "--help"])
        XCTAssertEqual(r.status, 0)
        for word in ["--eps", "8/255", "--der", "--beta", "--gamma", "--at", "fgsm-rs", "--resume", "--batch-size",
                     "logsumexp", "--aae-ref", "--lr-schedule", "--model", "cnn-small"] {
            XCTAssert(r.stdout.contains(word), "train --help does not mention \(word)")
        }
        let top = try Launcher.run(Launcher.binary, ["--help"])
        XCTAssert(top.stdout.contains("bench") && top.stdout.contains("train"), top.stdout)
    }

    func expectFailure(_ args: [String], mentioning words: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        // A short timeout: each of these must fail at once, not start a long run.
        let r = try Launcher.run(Launcher.binary, args, timeout: 60)
        XCTAssertNotEqual(r.status, 0, "expected failure for \(args)", file: file, line: line)
        for w in words {
            XCTAssert(r.stderr.contains(w), "stderr for \(args) does not mention '\(w)':\n\(r.stderr)", file: file, line: line)
        }
    }

    func testInvalidOptionsAreNamed() throws {
        try expectFailure(["--eps", "-1"], mentioning: ["--eps"])
        try expectFailure(["--eps", "8/0"], mentioning: ["eps"])
        try expectFailure(["--epochs", "0"], mentioning: ["--epochs"])
        try expectFailure(["--pgd-steps", "0"], mentioning: ["--pgd-steps"])
        try expectFailure(["--model", "resnet"], mentioning: ["model", "resnet"])
        try expectFailure(["--at", "cw"], mentioning: ["at"])
        try expectFailure(["--lr", "-0.1"], mentioning: ["--lr"])
        try expectFailure(["--at", "none", "--der", "all"], mentioning: ["--der"])
        try expectFailure(["--resume", "auto"], mentioning: ["--out"])
    }

    /// `--eps 8/255` and `--eps 0.1` reach the run's config.json as ε (and as FGSM's step α = ε).
    func testEpsFractionReachesTheConfiguration() throws {
        for (text, expected) in [("8/255", 8.0 / 255), ("0.1", 0.1)] {
            let dir = Launcher.temporaryDirectory("eps")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let r = try Launcher.run(Launcher.binary, [
                "train", "--data-dir", Launcher.dataDirectory, "--model", "mlp", "--at", "fgsm", "--eps", text,
                "--train-samples", "64", "--batch-size", "64", "--epochs", "1", "--eval-every", "0",
                "--probe-samples", "0", "--test-probe-samples", "0", "--threads", "1", "--out", dir + "/run"], timeout: 120)
            XCTAssertEqual(r.status, 0, "--eps \(text):\n\(r.stderr)")
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/run/config.json"))
            let config = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            let attack = try XCTUnwrap(config["attack"] as? [String: Any], "config.json has no attack object")
            let eps = try XCTUnwrap((attack["epsilon"] as? NSNumber)?.doubleValue, "no attack.epsilon in config.json")
            let alpha = try XCTUnwrap((attack["alpha"] as? NSNumber)?.doubleValue, "no attack.alpha in config.json")
            // Float32 ε written as JSON: within float rounding of the exact fraction.
            XCTAssertEqual(eps, expected, accuracy: 1e-7, "--eps \(text) gave ε = \(eps)")
            XCTAssertEqual(alpha, expected, accuracy: 1e-7, "--eps \(text) --at fgsm gave α = \(alpha)")
        }
    }

    func testMissingDataDirectoryIsNamed() throws {
        let dir = "/nonexistent/dist-train-data"
        try expectFailure(["--data-dir", dir, "--out", Launcher.temporaryDirectory("missing")], mentioning: [dir])
    }

    func testCorruptDatasetIsNamed() throws {
        let dir = Launcher.temporaryDirectory("corrupt")
        for name in ["train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"] {
            try FileManager.default.copyItem(atPath: Launcher.dataDirectory + "/" + name, toPath: dir + "/" + name)
        }
        // A truncated, uncompressed image file.
        let header: [UInt8] = [0, 0, 8, 3, 0, 0, 0xEA, 0x60, 0, 0, 0, 28, 0, 0, 0, 28]
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/train-images-idx3-ubyte", contents: Data(header + [UInt8](repeating: 7, count: 100))))
        try FileManager.default.removeItem(atPath: dir + "/t10k-images-idx3-ubyte.gz")
        try FileManager.default.copyItem(atPath: Launcher.dataDirectory + "/t10k-images-idx3-ubyte.gz", toPath: dir + "/t10k-images-idx3-ubyte.gz")
        try expectFailure(["--data-dir", dir, "--out", dir + "/run"], mentioning: ["train-images-idx3-ubyte", "truncated"])
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testCorruptCheckpointIsRefused() throws {
        let dir = Launcher.temporaryDirectory("badckpt")
        let path = dir + "/bad.dtck"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("not a checkpoint".utf8)))
        try expectFailure(["--data-dir", Launcher.dataDirectory, "--model", "mlp", "--train-samples", "64",
                           "--out", dir + "/run", "--resume", path], mentioning: [path])
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testNonFiniteLossStopsWithANamedError() throws {
        let dir = Launcher.temporaryDirectory("nan")
        try expectFailure(["--data-dir", Launcher.dataDirectory, "--model", "mlp", "--at", "none", "--lr", "1e30",
                           "--lr-schedule", "constant", "--train-samples", "640", "--batch-size", "64", "--epochs", "1",
                           "--out", dir], mentioning: ["non-finite values at global step", "rank 0: loss"])
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testBatchSmallerThanRanksIsRefused() throws {
        let r = try Launcher.train(ranks: 2, ["--data-dir", Launcher.dataDirectory, "--batch-size", "1",
                                              "--out", Launcher.temporaryDirectory("tiny")])
        XCTAssertNotEqual(r.status, 0)
        XCTAssert(r.stderr.contains("--batch-size"), r.stderr)
    }
}

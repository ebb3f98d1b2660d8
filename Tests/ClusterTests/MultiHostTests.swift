import Foundation
import XCTest

/// 3 hosts × 2 ranks as network namespaces: Open MPI over TCP between hosts (vader inside a
/// host), started through the namespace rsh agent instead of ssh.
final class MultiHostTests: XCTestCase {
    nonisolated(unsafe) static var hosts: NetnsHosts?

    override func setUpWithError() throws {
        try Harness.requireClusterTools()
        if Self.hosts == nil { Self.hosts = try NetnsHosts.up(3) }
    }

    override class func tearDown() {
        hosts?.down()
        hosts = nil
        super.tearDown()
    }

    /// The subnet exists only inside the namespaces; the root namespace refuses it locally.
    func testHostsAreIsolatedAndNamed() throws {
        let hosts = try XCTUnwrap(Self.hosts)
        let addresses = try Harness.run(["ip", "-4", "-o", "addr", "show"], limit: 10)
        XCTAssertFalse(addresses.stdout.contains(" \(hosts.subnet)."), "root namespace has an address on \(hosts.subnet).0/24")
        // `ip route get` only asks the routing table: no packet is sent.
        let route = try Harness.run(["ip", "route", "get", hosts.address(1)], limit: 10)
        XCTAssertNotEqual(route.status, 0, "the root namespace must not route to \(hosts.address(1)): \(route.output)")
        for i in 0..<hosts.count {
            let r = try hosts.run(["exec", "\(i)", "hostname"])
            XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), hosts.hostname(i), r.output)
        }
    }

    /// Under tbf shaping, 6 ranks land 2 per host, each host under its own hostname and address.
    func testRanksSpreadOverHostsUnderShaping() throws {
        let hosts = try XCTUnwrap(Self.hosts)
        let shaped = try hosts.run(["rate", "1gbit"])
        XCTAssertEqual(shaped.status, 0, shaped.output)
        XCTAssertEqual(shaped.stdout.components(separatedBy: "tbf").count - 1, hosts.count, shaped.output)
        defer {
            let r = try? hosts.run(["unshape"])
            XCTAssertEqual(r?.status, 0)
            XCTAssertEqual(r?.stdout.contains("tbf"), false, r?.output ?? "")
        }
        let r = try hosts.mpirun(slots: 2, ["-np", "6", "sh", "-c",
                                           "echo rank=$OMPI_COMM_WORLD_RANK host=$(hostname) addr=$(ip -4 -o addr show dev eth0 | awk '{print $4}')"],
                                 limit: 30)
        XCTAssertEqual(r.status, 0, r.output)
        for i in 0..<hosts.count {
            let lines = r.stdout.split(separator: "\n").filter { $0.contains("host=\(hosts.hostname(i)) addr=\(hosts.address(i))/") }
            XCTAssertEqual(lines.count, 2, "expected 2 ranks on \(hosts.hostname(i)):\n\(r.output)")
        }
    }

    /// 3 hosts × 2 ranks end with the parameters of a single-process run.
    func testThreeHostsTimesTwoRanksMatchSingleProcess() throws {
        let hosts = try XCTUnwrap(Self.hosts)
        let options = Harness.trainOptions()
        var attempt = 0
        while true {
            attempt += 1
            let out = Harness.temporaryDirectory("multihost")
            defer { try? FileManager.default.removeItem(atPath: out) }
            let r = try hosts.mpirun(slots: 2, ["-np", "6", "--bind-to", "none", "-x", "OPENBLAS_NUM_THREADS=1",
                                                Harness.binary, "train"] + options + ["--out", out], limit: 90)
            print("3 hosts x 2 ranks, attempt \(attempt): exit \(r.status) after " + String(format: "%.1f", r.seconds) + " s")
            // Open MPI's TCP wire-up between namespaces hangs now and then ("failed to TCP connect
            // ... Operation now in progress"): one retry for a run that hit the time limit.
            if r.timedOut && attempt == 1 {
                print("timed out (a known intermittent Open MPI TCP wire-up hang); retrying once:\n\(r.output.suffix(2000))")
                continue
            }
            XCTAssertEqual(r.status, 0, r.output)
            guard r.status == 0 else { return }
            XCTAssert(r.stdout.contains("6 rank(s)"), r.stdout)
            try Harness.assertMatchesSingleProcess(out, options, what: "3 hosts x 2 ranks")
            return
        }
    }
}

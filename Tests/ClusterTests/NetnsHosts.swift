import Foundation
import XCTest

/// Hosts made of network namespaces by launch/cluster/netns-hosts.sh: `up` claims a free
/// 10.251.K.0/24 (prefix dtcK), `down` removes the namespaces, the bridge and the route. A
/// watcher started with `up` also removes them if this test process dies first.
final class NetnsHosts: @unchecked Sendable {
    let prefix: String
    let subnet: String
    let count: Int
    private var isUp = true

    private init(prefix: String, subnet: String, count: Int) {
        self.prefix = prefix; self.subnet = subnet; self.count = count
    }

    var environment: [String: String] { ["NETNS_PREFIX": prefix, "NETNS_SUBNET": subnet] }
    static let script = Harness.script("launch/cluster/netns-hosts.sh")

    func address(_ host: Int) -> String { "\(subnet).\(10 + host)" }
    func hostname(_ host: Int) -> String { "\(prefix)h\(host)" }

    /// Creates `count` hosts on the first free subnet 10.251.K (exit 3 from `up` means taken).
    static func up(_ count: Int) throws -> NetnsHosts {
        for k in 0..<32 {
            let hosts = NetnsHosts(prefix: "dtc\(k)", subnet: "10.251.\(k)", count: count)
            let r = try Harness.run([script, "up", "\(count)", "--watch", "\(getpid())"],
                                    environment: hosts.environment, limit: 30)
            if r.status == 0 {
                print("netns-hosts.sh up \(count): \(hosts.prefix)h0..\(count - 1) on \(hosts.subnet).0/24, "
                      + String(format: "%.2f", r.seconds) + " s")
                return hosts
            }
            if r.status == 3 { continue }
            hosts.down()
            XCTFail("netns-hosts.sh up failed (\(r.status)):\n\(r.output)")
            throw XCTSkip("no namespace hosts")
        }
        throw XCTSkip("no free subnet in 10.251.0-31.0/24")
    }

    func down() {
        guard isUp else { return }
        isUp = false
        let r = try? Harness.run([NetnsHosts.script, "down"], environment: environment, limit: 30)
        if let r, r.status != 0 { print("netns-hosts.sh down: \(r.status)\n\(r.output)") }
    }

    /// `netns-hosts.sh ARGS` with this instance's prefix and subnet.
    func run(_ args: [String], environment extra: [String: String] = [:], limit: Double = 30) throws -> Harness.Result {
        try Harness.run([NetnsHosts.script] + args, environment: environment.merging(extra) { $1 }, limit: limit)
    }

    /// mpirun over the namespace hosts, `slots` ranks per host, under `timeout -k 5 limit`.
    func mpirun(slots: Int, _ args: [String], limit: Double) throws -> Harness.Result {
        try run(["mpirun"] + args, environment: ["NETNS_SLOTS": "\(slots)"], limit: limit)
    }
}

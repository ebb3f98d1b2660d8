import DataIO
import Distributed
import Foundation
import NeuralCore
import Training

extension BenchCommand {
    /// Median time of an in-place float MPI_Allreduce per size, one JSON line per size.
    func measureAllreduce(comm: any Communicator) throws {
        var sizes: [(String, Int)] = stride(from: 10, through: 24, by: 2).map { ("sweep", 1 << $0) }
        for m in ModelKind.allCases {
            sizes.append((m.rawValue, m.build(input: Shape(1, 28, 28), classes: 10).parameterCount + Network.tailSlots))
        }
        var lines: [String] = []
        for (label, n) in sizes {
            let buffer = FloatBuffer(count: n)
            var times: [Double] = []
            let repeats = n >= 1 << 22 ? 10 : 30
            for r in 0..<(repeats + 3) {
                try comm.barrier()
                let t0 = PhaseTimes.now()
                try comm.allreduceSum(buffer.buffer)
                if r >= 3 { times.append(PhaseTimes.now() - t0) }
            }
            // Every rank's time: the slowest rank's is the collective's.
            var worst = times.sorted()[times.count / 2]
            var w = [Int64(worst * 1e9)]
            try w.withUnsafeMutableBufferPointer { try comm.allreduceMax($0) }
            worst = Double(w[0]) / 1e9
            let line = JSONValue.object([
                ("kind", .string("allreduce")), ("what", .string(label)), ("ranks", .integer(comm.size)),
                ("floats", .integer(n)), ("bytes", .integer(4 * n)), ("seconds", .number(worst)),
                ("gbytes_per_s", .number(Double(4 * n) / worst / 1e9)),
            ]).text
            lines.append(line)
            if comm.isRoot {
                print(json ? line : String(format: "%-10@ %10d floats  %9.3f ms  %6.2f GB/s", label as NSString, n, worst * 1e3,
                                           Double(4 * n) / worst / 1e9))
            }
        }
        if comm.isRoot, let output {
            let existing = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            try AtomicFile.write(existing + lines.joined(separator: "\n") + "\n", to: output)
        }
    }
}

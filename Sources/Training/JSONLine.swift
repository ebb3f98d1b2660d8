import Foundation

/// A JSON value with ordered keys, so metrics lines read in a stable, sensible order.
public indirect enum JSONValue: Sendable {
    case number(Double)
    case integer(Int)
    case string(String)
    case bool(Bool)
    case object([(String, JSONValue)])
    case array([JSONValue])

    public var text: String {
        switch self {
        case .number(let v):
            guard v.isFinite else { return "null" }
            if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
            return "\(v)"
        case .integer(let v): return String(v)
        case .bool(let v): return v ? "true" : "false"
        case .string(let s):
            let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
            let array = String(decoding: data, as: UTF8.self)
            return String(array.dropFirst().dropLast())
        case .array(let items):
            return "[" + items.map(\.text).joined(separator: ",") + "]"
        case .object(let pairs):
            return "{" + pairs.map { JSONValue.string($0.0).text + ":" + $0.1.text }.joined(separator: ",") + "}"
        }
    }
}

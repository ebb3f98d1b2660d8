import Foundation

public struct ConfigFileError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

extension TrainConfig {
    /// Keys that config.json carries for the record but that are not options.
    static let recordKeys: Set<String> = ["version", "ranks", "blasThreads"]

    /// Reads a configuration written as `config.json` (or any subset of its keys): missing
    /// keys keep their defaults, unknown keys are an error naming them (a typo must not be
    /// silently ignored).
    public static func load(path: String) throws -> TrainConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigFileError(path: path, reason: "cannot read the file")
        }
        return try decode(data, source: path)
    }

    /// Decodes configuration JSON (a file, or the copy inside a checkpoint) over the defaults.
    public static func decode(_ data: Data, source path: String) throws -> TrainConfig {
        guard let given = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ConfigFileError(path: path, reason: "not a JSON object")
        }
        let defaults = try JSONSerialization.jsonObject(with: JSONEncoder().encode(TrainConfig())) as! [String: Any]
        let merged = try merge(defaults, given, path: path, prefix: "")
        do {
            return try JSONDecoder().decode(TrainConfig.self, from: JSONSerialization.data(withJSONObject: merged))
        } catch let DecodingError.dataCorrupted(context) {
            throw ConfigFileError(path: path, reason: "bad value for \(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)")
        } catch let DecodingError.typeMismatch(_, context) {
            throw ConfigFileError(path: path, reason: "wrong type for \(context.codingPath.map(\.stringValue).joined(separator: "."))")
        } catch {
            throw ConfigFileError(path: path, reason: "\(error)")
        }
    }

    private static func merge(_ base: [String: Any], _ over: [String: Any], path: String, prefix: String) throws -> [String: Any] {
        var out = base
        for (key, value) in over {
            if prefix.isEmpty && recordKeys.contains(key) { continue }
            guard let old = base[key] else {
                throw ConfigFileError(path: path, reason: "unknown key '\(prefix)\(key)'")
            }
            if let oldObject = old as? [String: Any], let newObject = value as? [String: Any] {
                out[key] = try merge(oldObject, newObject, path: path, prefix: prefix + key + ".")
            } else {
                out[key] = value
            }
        }
        return out
    }

    /// The JSON of `config.json`: every option plus the version, rank count and BLAS threads.
    public func recordJSON(version: String, ranks: Int, blasThreads: Int) throws -> String {
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(self)) as! [String: Any]
        object["version"] = version
        object["ranks"] = ranks
        object["blasThreads"] = blasThreads
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

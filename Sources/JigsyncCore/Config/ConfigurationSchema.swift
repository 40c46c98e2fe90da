import Yams

/// The keys a configuration file may hold, taken from the decoded types' own `CodingKeys`, and the
/// check that refuses any other: a misspelled key (`prefx:`) would otherwise be dropped in silence
/// by the decoder and the daemon would run with a setting the operator never asked for.
enum ConfigurationSchema {
    /// What a value under a key must look like, as far as keys go.
    indirect enum Shape: Sendable {
        /// A mapping whose keys are exactly these.
        case mapping([String: Shape])
        /// A list of values of one shape.
        case sequence(Shape)
        /// Anything else (a scalar, a list of globs): no keys to check inside.
        case leaf
    }

    static let root: Shape = .mapping(keys(JigsyncConfiguration.CodingKeys.self, nested: [
        "folders": .sequence(.mapping(keys(JigsyncConfiguration.FolderEntry.CodingKeys.self))),
        "upload": .mapping(keys(JigsyncConfiguration.Upload.CodingKeys.self)),
        "api": .mapping(keys(JigsyncConfiguration.API.CodingKeys.self)),
        "log": .mapping(keys(JigsyncConfiguration.Log.CodingKeys.self)),
        "guard": .mapping(keys(JigsyncConfiguration.Guard.CodingKeys.self)),
        "actions": .mapping(keys(JigsyncConfiguration.Actions.CodingKeys.self)),
        "metrics": .mapping(keys(JigsyncConfiguration.MetricsSection.CodingKeys.self)),
    ]))

    private static func keys<K: CodingKey & CaseIterable>(_: K.Type, nested: [String: Shape] = [:]) -> [String: Shape] {
        Dictionary(uniqueKeysWithValues: K.allCases.map { ($0.stringValue, nested[$0.stringValue] ?? .leaf) })
    }

    /// An unknown key, where it is and what was probably meant.
    struct UnknownKey {
        var key: String
        /// The mapping it sits in, as a YAML path (`folders[0]`), empty at the top.
        var field: String
        var mark: Mark?
        var known: [String]

        var suggestion: String? { ConfigurationSchema.nearest(to: key, among: known) }
    }

    /// The first key in `node` that `shape` does not know, in the order of the file.
    static func firstUnknownKey(in node: Node, shape: Shape = root, field: String = "") -> UnknownKey? {
        switch (shape, node) {
        case (.mapping(let known), .mapping(let mapping)):
            for (keyNode, value) in mapping {
                let key = keyNode.string ?? "\(keyNode)"
                let path = field.isEmpty ? key : field + "." + key
                guard let inner = known[key] else {
                    return UnknownKey(key: key, field: field, mark: keyNode.mark, known: known.keys.sorted())
                }
                if let found = firstUnknownKey(in: value, shape: inner, field: path) { return found }
            }
        case (.sequence(let element), .sequence(let sequence)):
            for (index, item) in sequence.enumerated() {
                if let found = firstUnknownKey(in: item, shape: element, field: "\(field)[\(index)]") { return found }
            }
        default:
            break   // a wrong type is the decoder's to report, with the type expected
        }
        return nil
    }

    /// The node at a decoder's coding path, for the line and column of a value it refused.
    static func node(at path: [any CodingKey], in root: Node) -> Node? {
        var node = root
        for key in path {
            if let index = key.intValue, let sequence = node.sequence, index < sequence.count {
                node = sequence[index]
            } else if let mapping = node.mapping, let value = mapping[key.stringValue] {
                node = value
            } else {
                return node
            }
        }
        return node
    }

    /// The known key closest to `key` in edit distance, when it is close enough to be a typo or
    /// one contains the other (`key` for `api_key`).
    static func nearest(to key: String, among known: [String]) -> String? {
        let scored = known.map { ($0, editDistance(key.lowercased(), $0)) }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        guard let (best, distance) = scored.first else { return nil }
        if distance <= max(2, key.count / 3) { return best }
        return known.first { $0.contains(key.lowercased()) || key.lowercased().contains($0) }
    }

    /// Levenshtein distance over Unicode scalars.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

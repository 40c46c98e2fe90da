import Foundation

/// Tokens of temporary public URLs, each valid for one key until it expires.
actor TemporaryURLs {
    private var tokens: [String: (key: String, expires: ContinuousClock.Instant)] = [:]

    func issue(for key: String, seconds: Int) -> String {
        let now = ContinuousClock.now
        tokens = tokens.filter { $0.value.expires > now }   // drop expired ones as new ones come
        let token = UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        tokens[token] = (key, now + .seconds(seconds))
        return token
    }

    func allows(token: String, key: String) -> Bool {
        guard let entry = tokens[token] else { return false }
        // Byte for byte: a key equal only after Unicode normalization is another file.
        return entry.key.utf8.elementsEqual(key.utf8) && entry.expires > .now
    }
}

import Foundation

/// What the daemon's loop wants known beside the queue (a folder gone, part of one unwatched),
/// by topic, for the status reporter and the control socket.
///
/// `@unchecked Sendable`: `notes` is guarded by `lock` (written by the loop, read by reporters).
final class NoteBoard: @unchecked Sendable {
    private let lock = NSLock()
    private var notes: [String: Attention.Item] = [:]

    func set(_ topic: String, _ level: Attention.Level, _ message: String) {
        lock.withLock { notes[topic] = Attention.Item(level: level, message: message) }
    }

    func remove(_ topic: String) { _ = lock.withLock { notes.removeValue(forKey: topic) } }

    /// Drops every note whose topic names `path` (a folder no longer configured).
    func removeAll(about path: String) {
        lock.withLock { notes = notes.filter { !$0.key.hasSuffix(" " + path) } }
    }

    /// The notes, in a stable order.
    var items: [Attention.Item] { lock.withLock { notes.sorted { $0.key < $1.key }.map(\.value) } }
}

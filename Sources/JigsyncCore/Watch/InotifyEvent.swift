import Glibc

/// What the kernel said happened, translated from an `inotify_event`.
struct InotifyEvent: Sendable {
    /// The event kinds jigsync asks for (see `Inotify.watchMask`).
    struct Kind: OptionSet, Sendable {
        let rawValue: UInt32
        static let modified = Kind(rawValue: UInt32(IN_MODIFY))
        static let attributes = Kind(rawValue: UInt32(IN_ATTRIB))
        static let closedAfterWrite = Kind(rawValue: UInt32(IN_CLOSE_WRITE))
        static let movedFrom = Kind(rawValue: UInt32(IN_MOVED_FROM))
        static let movedTo = Kind(rawValue: UInt32(IN_MOVED_TO))
        static let created = Kind(rawValue: UInt32(IN_CREATE))
        static let deleted = Kind(rawValue: UInt32(IN_DELETE))
        static let watchedDeleted = Kind(rawValue: UInt32(IN_DELETE_SELF))
        static let watchedMoved = Kind(rawValue: UInt32(IN_MOVE_SELF))
        static let unmounted = Kind(rawValue: UInt32(IN_UNMOUNT))
        static let overflow = Kind(rawValue: UInt32(IN_Q_OVERFLOW))
        static let watchRemoved = Kind(rawValue: UInt32(IN_IGNORED))
        static let isDirectory = Kind(rawValue: UInt32(IN_ISDIR))
    }

    /// The watch descriptor; -1 for an overflow, which belongs to no watch.
    let watch: Int32
    let kind: Kind
    /// Pairs the two halves of a rename.
    let cookie: UInt32
    /// The entry's name within the watched directory, raw bytes; empty for events on the directory itself.
    let name: [UInt8]
}

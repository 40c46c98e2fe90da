import Glibc

/// One entry found by a walk.
public struct WalkEntry: Sendable {
    /// Path relative to the folder, `/`-separated.
    public var relativePath: String
    public var stat: FileStat
    /// Why the entry is not a candidate for upload (not a regular file, a name that is not
    /// UTF-8, another file system), or nil for a regular file.
    public var skipReason: String?
}

/// What one directory holds: its entries (files, links, anything not walked into) and the
/// directories beneath it to list next.
public struct DirectoryListing: Sendable {
    /// The directory, as the prefix of its entries' paths: "" for the root, else "a/b/".
    public var prefix: String
    public var entries: [WalkEntry] = []
    /// The directories in it on the folder's file system, relative to the folder ("a/b/c").
    public var subdirectories: [String] = []
}

/// Walks a folder through directory descriptors: symlinks are reported, never followed; other
/// file systems are not entered; unreadable directories are reported and passed over.
public enum FolderWalker {
    /// Everything beneath `folder`, in no particular order.
    /// - Parameter problems: receives directories that could not be read.
    /// - Parameter directory: where to start, relative to the folder ("" for the whole folder).
    public static func walk(_ folder: Folder, under directory: String = "", problems: (FSError) -> Void = { _ in }) throws(FSError) -> [WalkEntry] {
        var entries: [WalkEntry] = []
        var pending = [directory]
        var top = true
        while let next = pending.popLast() {
            guard let listing = try list(folder, directory: next, isTop: top, problems: problems) else { continue }
            top = false
            entries += listing.entries
            pending += listing.subdirectories
        }
        return entries
    }

    /// One directory of a walk: `directory` (relative to the folder, "" for the root) opened
    /// beneath the folder's root (`openat2`: no symlink in any component, no other file system),
    /// then listed with one `fstatat` per entry.
    ///
    /// A walk lists one directory at a time and holds nothing open between two: what it keeps is
    /// the names of the directories still to list, never a folder's entries.
    /// - Parameter isTop: the directory the walk started from: failing to open it throws (the
    ///   caller asked for it). Any other directory that vanished since its parent was listed (or
    ///   became something else) is a race of a busy folder: nil, and not a problem; one that
    ///   cannot be opened or read is reported to `problems` and is nil.
    public static func list(_ folder: Folder, directory: String, isTop: Bool = true,
                            problems: (FSError) -> Void = { _ in }) throws(FSError) -> DirectoryListing? {
        let prefix = directory.isEmpty ? "" : directory + "/"
        let dirfd: Int32
        do {
            dirfd = try folder.openDirectory(directory)
        } catch {
            if isTop { throw error }
            if error.code != ENOENT && error.code != ENOTDIR { problems(error) }
            return nil
        }
        guard let dir = fdopendir(dirfd) else {
            let error = FSError(path: folder.fullPath(prefix), errno: errno, operation: "opendir")
            close(dirfd)
            if isTop { throw error }
            problems(error)
            return nil
        }
        defer { closedir(dir) }   // closes dirfd too
        var listing = DirectoryListing(prefix: prefix)
        while let entry = readdir(dir) {
            // The name is read where readdir left it (NUL-terminated in its record): no copy of
            // it per entry but the path's own.
            let name = entryNamePointer(entry)
            let rawName = UnsafeBufferPointer(start: UnsafeRawPointer(name).assumingMemoryBound(to: UInt8.self), count: strlen(name))
            if rawName.count <= 2 && rawName.allSatisfy({ $0 == 46 }) { continue }   // "." and ".."
            var s = stat()
            guard fstatat(dirfd, name, &s, AT_SYMLINK_NOFOLLOW) == 0 else {
                continue   // vanished between readdir and stat
            }
            let stat = FileStat(s)
            guard let validName = String(validating: rawName, as: UTF8.self) else {
                let shown = prefix + String(decoding: rawName, as: UTF8.self)
                listing.entries.append(WalkEntry(relativePath: shown, stat: stat, skipReason: "name is not valid UTF-8"))
                continue
            }
            let relative = prefix + validName
            switch stat.kind {
            case .directory:
                guard stat.device == folder.device else {
                    listing.entries.append(WalkEntry(relativePath: relative, stat: stat, skipReason: "is on another file system (not crossed)"))
                    continue
                }
                listing.subdirectories.append(relative)
            case .regular:
                listing.entries.append(WalkEntry(relativePath: relative, stat: stat, skipReason: nil))
            case .symlink:
                listing.entries.append(WalkEntry(relativePath: relative, stat: stat, skipReason: "is a symbolic link (links are never followed)"))
            default:
                listing.entries.append(WalkEntry(relativePath: relative, stat: stat, skipReason: "is a \(stat.kind.rawValue), not a regular file"))
            }
        }
        return listing
    }
}

/// A directory beneath a folder, held open while a visitor looks at it.
public struct OpenDirectory {
    /// Its path relative to the folder ("" for the root).
    public let relativePath: String
    /// `/proc/self/fd/N` of the open descriptor: a name for exactly this directory, whatever
    /// happens to the path meanwhile (valid only during the visit). Following it is safe: it was
    /// opened beneath the folder's root without following any symlink.
    public let descriptorPath: String
}

extension FolderWalker {
    /// Visits `directory` (relative to the folder, "" for the root) and every directory beneath
    /// it, each opened beneath the folder's root: the first with `openat2` (no symlinks, no other
    /// file system), the rest one name at a time from their open parent with `O_NOFOLLOW`, so a
    /// directory swapped for a symlink leads nowhere. For setting up watches. `visit` returns
    /// false to stop. Directories that cannot be opened are passed over.
    public static func forEachDirectory(of folder: Folder, under directory: String = "", _ visit: (OpenDirectory) -> Bool) {
        guard let top = try? folder.openDirectory(directory) else { return }
        var pending: [(fd: Int32, relative: String)] = [(top, directory)]
        var going = true
        while let (dirfd, relative) = pending.popLast() {
            if going { going = visit(OpenDirectory(relativePath: relative, descriptorPath: "/proc/self/fd/\(dirfd)")) }
            guard going, let dir = fdopendir(dirfd) else {
                close(dirfd)
                continue
            }
            defer { closedir(dir) }   // closes dirfd too
            while let entry = readdir(dir) {
                guard entry.pointee.d_type == DT_DIR || entry.pointee.d_type == DT_UNKNOWN else { continue }
                let rawName = entryName(entry)
                if rawName == [46] || rawName == [46, 46] { continue }
                // A directory whose name is not UTF-8 is skipped by the walk, so it is not watched either.
                guard let name = String(validating: rawName, as: UTF8.self) else { continue }
                let child = FSCall.retryingEINTR { openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
                guard child >= 0 else { continue }   // not a directory (any more), or a symlink
                var s = stat()
                guard fstat(child, &s) == 0, UInt64(s.st_dev) == folder.device else {
                    close(child)   // another file system: not crossed
                    continue
                }
                pending.append((child, relative.isEmpty ? name : relative + "/" + name))
            }
        }
    }

    /// The name of a `readdir` entry, its bytes up to the NUL.
    ///
    /// The kernel's records are only as long as their name (`d_reclen`), not the 256 bytes that
    /// `struct dirent` declares: copying the whole `d_name` field (`entry.pointee.d_name`) reads
    /// past a short record, and faults when that record ends the mapped part of the buffer.
    static func entryName(_ entry: UnsafePointer<dirent>) -> [UInt8] {
        let name = entryNamePointer(entry)
        return Array(UnsafeRawBufferPointer(start: name, count: strlen(name)))
    }

    /// The NUL-terminated name inside a `readdir` entry, valid until the next `readdir`.
    static func entryNamePointer(_ entry: UnsafePointer<dirent>) -> UnsafePointer<CChar> {
        UnsafeRawPointer(entry).advanced(by: MemoryLayout<dirent>.offset(of: \dirent.d_name)!)
            .assumingMemoryBound(to: CChar.self)
    }

    /// The directories beneath (and including) `absolutePath`, relative to it ("" for itself),
    /// without following symlinks or leaving `device`.
    public static func directories(at absolutePath: String, device: UInt64) -> [String] {
        guard let folder = try? Folder(path: absolutePath), folder.device == device else { return [] }
        var result: [String] = []
        forEachDirectory(of: folder) { result.append($0.relativePath); return true }
        return result
    }
}

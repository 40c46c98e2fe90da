import CSys
import Crypto
import Foundation
import Glibc

/// A watched folder's root, held open by descriptor: everything jigsync reads is reached from
/// here without following symlinks and without leaving the folder.
///
/// Not Sendable: owned by the FS queue's callers one at a time (see `FSQueue`).
public final class Folder: @unchecked Sendable {   // immutable after init: a descriptor and its path
    /// The folder's absolute path, for messages and for the ledger.
    public let path: String
    /// Device of the root; entries on another file system are not crossed into.
    public let device: UInt64
    private let fd: Int32

    /// Opens the folder root. The root itself may be reached through symlinks (the user named it);
    /// nothing beneath it is.
    public init(path: String) throws(FSError) {
        let fd = FSCall.retryingEINTR { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw FSError(path: path, errno: errno, operation: "open folder") }
        var s = stat()
        guard fstat(fd, &s) == 0 else {
            let error = FSError(path: path, errno: errno, operation: "fstat")
            close(fd)
            throw error
        }
        self.fd = fd
        self.device = UInt64(s.st_dev)
        self.path = path
    }

    deinit { close(fd) }

    /// Whether the root is still this folder: not deleted (a removed directory held open has no
    /// links left) and still reached by its path (not moved away or replaced).
    public func isStillAttached() -> Bool {
        var open = stat(), named = stat()
        guard fstat(fd, &open) == 0, open.st_nlink > 0, stat(path, &named) == 0 else { return false }
        return open.st_ino == named.st_ino && open.st_dev == named.st_dev
    }

    /// The name of the network or user-space file system the folder is on, when inotify cannot see
    /// its changes made elsewhere (NFS, SMB/CIFS, FUSE, 9p, Ceph): `statfs(2)`'s magic number.
    public func remoteFileSystem() -> String? {
        let type = jigsync_fs_type(fd)
        guard type >= 0 else { return nil }
        switch UInt64(type) & 0xFFFF_FFFF {
        case 0x6969: return "NFS"
        case 0x517B, 0xFF53_4D42, 0xFE53_4D42: return "SMB/CIFS"
        case 0x6573_5546: return "FUSE"
        case 0x0102_1997: return "9p"
        case 0x00C3_6400: return "Ceph"
        default: return nil
        }
    }

    /// `lstat` of an entry beneath the folder; nil when it is not there as a plain path beneath
    /// the folder (gone, or reached only through a symlink or another file system).
    ///
    /// The last component is not followed (`AT_SYMLINK_NOFOLLOW`), and neither is any before it:
    /// the parent is opened beneath the root without symlinks, then `fstatat` names the entry in
    /// it. `fstatat(root, "d/sub/f")` alone would follow a symlink `d` to wherever it points.
    public func lstat(_ relativePath: String) throws(FSError) -> FileStat? {
        try lstat([relativePath])[0].get()
    }

    /// `lstat` of several entries, by the same rules as `lstat(_:)`, each parent directory opened
    /// once for the entries that follow each other in it (an event batch names many files of one
    /// directory). One result per path, in order.
    public func lstat(_ relativePaths: [String]) -> [Result<FileStat?, FSError>] {
        var results: [Result<FileStat?, FSError>] = []
        results.reserveCapacity(relativePaths.count)
        var openParent: (path: String, fd: Int32?)? = nil
        defer { if let held = openParent?.fd, held != fd { close(held) } }
        for relativePath in relativePaths {
            let (parentPath, name) = Self.split(relativePath)
            if openParent?.path != parentPath {
                if let held = openParent?.fd, held != fd { close(held) }
                if parentPath.isEmpty {
                    openParent = (parentPath, fd)
                } else {
                    do {
                        openParent = (parentPath, try openBeneath(parentPath, flags: jigsync_o_path() | O_DIRECTORY | O_CLOEXEC))
                    } catch where [ENOENT, ENOTDIR, ELOOP, EXDEV].contains(error.code ?? 0) {
                        openParent = (parentPath, nil)
                    } catch {
                        openParent = nil
                        results.append(.failure(error))
                        continue
                    }
                }
            }
            guard let parent = openParent?.fd else {
                results.append(.success(nil))
                continue
            }
            var s = stat()
            if fstatat(parent, name, &s, AT_SYMLINK_NOFOLLOW) == 0 {
                results.append(.success(FileStat(s)))
            } else if errno == ENOENT || errno == ENOTDIR {
                results.append(.success(nil))
            } else {
                results.append(.failure(FSError(path: fullPath(relativePath), errno: errno, operation: "lstat")))
            }
        }
        return results
    }

    /// What the path names now, to compare with a stat taken earlier (the file sent is still the
    /// one at its path): one `fstatat` from the root, the last component not followed. Unlike
    /// `lstat(_:)` a symlink put in place of a directory on the way is followed: the result is
    /// only compared (inode, device, size, times), never trusted for a path, and a file reached
    /// that way is another file or the same bytes. nil when nothing is there; any other failure
    /// (a path longer than the kernel takes at once, say) asks `lstat(_:)`.
    public func identity(_ relativePath: String) -> FileStat? {
        var s = stat()
        if fstatat(fd, relativePath, &s, AT_SYMLINK_NOFOLLOW) == 0 { return FileStat(s) }
        if errno == ENOENT || errno == ENOTDIR { return nil }
        return (try? lstat(relativePath)) ?? nil
    }

    private static func split(_ relativePath: String) -> (parent: String, name: String) {
        guard let slash = relativePath.lastIndex(of: "/") else { return ("", relativePath) }
        return (String(relativePath[..<slash]), String(relativePath[relativePath.index(after: slash)...]))
    }

    /// Opens a regular file beneath the folder for reading.
    ///
    /// First as `O_PATH` with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)`,
    /// so nothing is read yet; `fstat` must say regular file; then for reading (non-blocking) by the
    /// same rules, and the two must be the same inode. So a FIFO, socket or device is never opened
    /// for reading, a symlink is never followed, and a swap in between cannot reach outside.
    public func openForReading(_ relativePath: String) throws(FSError) -> ReadableFile {
        let full = fullPath(relativePath)
        let probe = try openBeneath(relativePath, flags: jigsync_o_path() | O_CLOEXEC)
        defer { close(probe) }
        let probed = try FileStat.of(fd: probe, path: full)
        guard probed.kind == .regular else { throw FSError(path: full, reason: "is a \(probed.kind.rawValue), not a regular file") }
        let fd = try openBeneath(relativePath, flags: O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        let opened: FileStat
        do throws(FSError) {
            opened = try FileStat.of(fd: fd, path: full)
        } catch {
            close(fd)
            throw error
        }
        guard opened.inode == probed.inode, opened.device == probed.device, opened.kind == .regular else {
            close(fd)
            throw FSError(path: full, reason: "was replaced while being opened")
        }
        return ReadableFile(adopting: fd, path: full, stat: opened)
    }

    /// SHA-256 (hex) and stat of a file's current content, read from one descriptor.
    public func hash(_ relativePath: String) throws(FSError) -> (sha256: String, stat: FileStat) {
        let file = try openForReading(relativePath)
        var hasher = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var offset: Int64 = 0
        while true {
            let n = try file.read(into: buffer, at: offset)
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            offset += Int64(n)
        }
        let after = try file.currentStat()
        guard !after.contentMayDiffer(from: file.openedStat), offset == after.size else {
            throw FSError(path: file.path, reason: "changed while it was being hashed")
        }
        return (hasher.finalize().hexString, file.openedStat)
    }

    public func fullPath(_ relativePath: String) -> String {
        relativePath.isEmpty ? path : path + "/" + relativePath
    }

    /// A descriptor of the directory `relativePath` beneath the folder ("" for the root), for a walk.
    func openDirectory(_ relativePath: String) throws(FSError) -> Int32 {
        if relativePath.isEmpty { return try duplicateDescriptor() }
        do {
            return try openBeneath(relativePath, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        } catch where error.code == ENAMETOOLONG {
            // Deeper than PATH_MAX: a walk lists it still, reached a name at a time as from its
            // parent (its files are then refused by name, with a reason in their rows).
            return try openByComponents(relativePath, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }
    }

    /// A new descriptor of the root, for a walk. Opened anew through ".", not `dup`ed: a
    /// duplicate shares the directory offset, and a second walk would start where the first ended.
    func duplicateDescriptor() throws(FSError) -> Int32 {
        let copy = FSCall.retryingEINTR { openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard copy >= 0 else { throw FSError(path: path, errno: errno, operation: "open folder") }
        return copy
    }

    private func openBeneath(_ relativePath: String, flags: Int32) throws(FSError) -> Int32 {
        let resolve = UInt64(JIGSYNC_RESOLVE_BENEATH | JIGSYNC_RESOLVE_NO_SYMLINKS | JIGSYNC_RESOLVE_NO_XDEV)
        let fd = FSCall.retryingEINTR { jigsync_openat2(self.fd, relativePath, UInt64(UInt32(bitPattern: flags)), 0, resolve) }
        if fd >= 0 { return fd }
        if errno == ENOSYS || errno == EPERM && Self.seccompBlocksOpenat2 {
            return try openByComponents(relativePath, flags: flags)
        }
        throw FSError(path: fullPath(relativePath), errno: errno, operation: "open")
    }

    /// Some container runtimes' seccomp filters answer EPERM for syscalls they do not know.
    private static let seccompBlocksOpenat2 = true

    /// The fallback without `openat2`: one directory at a time with `O_NOFOLLOW`, never `..`.
    private func openByComponents(_ relativePath: String, flags: Int32) throws(FSError) -> Int32 {
        let components = relativePath.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard !components.isEmpty, !components.contains(".."), !components.contains(".") else {
            throw FSError(path: fullPath(relativePath), reason: "is not a plain path beneath the folder")
        }
        var current = try duplicateDescriptor()
        for (index, component) in components.enumerated() {
            let last = index == components.count - 1
            let next = FSCall.retryingEINTR {
                openat(current, component, last ? flags | O_NOFOLLOW : O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            let savedErrno = errno
            close(current)
            guard next >= 0 else { throw FSError(path: fullPath(relativePath), errno: savedErrno, operation: "open") }
            current = next
            var s = stat()
            guard fstat(current, &s) == 0, UInt64(s.st_dev) == device else {
                close(current)
                throw FSError(path: fullPath(relativePath), reason: "is on another file system")
            }
        }
        return current
    }
}

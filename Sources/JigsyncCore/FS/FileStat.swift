import Glibc

/// The parts of `stat(2)` jigsync decides with.
public struct FileStat: Sendable, Equatable {
    /// The kinds of directory entries, by `st_mode`.
    public enum Kind: String, Sendable {
        case regular = "regular file", directory, symlink = "symbolic link", fifo = "FIFO",
             socket, characterDevice = "character device", blockDevice = "block device", unknown = "unknown file type"
    }

    public var kind: Kind
    public var size: Int64
    /// Modification time in nanoseconds since the epoch.
    public var mtimeNanoseconds: Int64
    /// Status-change time in nanoseconds since the epoch.
    public var ctimeNanoseconds: Int64
    public var inode: UInt64
    public var device: UInt64
    /// Number of names (hard links) of the inode.
    public var linkCount: UInt64 = 1

    public init(kind: Kind, size: Int64, mtimeNanoseconds: Int64, ctimeNanoseconds: Int64, inode: UInt64, device: UInt64) {
        self.kind = kind
        self.size = size
        self.mtimeNanoseconds = mtimeNanoseconds
        self.ctimeNanoseconds = ctimeNanoseconds
        self.inode = inode
        self.device = device
    }

    init(_ s: stat) {
        switch s.st_mode & S_IFMT {
        case S_IFREG: kind = .regular
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symlink
        case S_IFIFO: kind = .fifo
        case S_IFSOCK: kind = .socket
        case S_IFCHR: kind = .characterDevice
        case S_IFBLK: kind = .blockDevice
        default: kind = .unknown
        }
        size = Int64(s.st_size)
        mtimeNanoseconds = Int64(s.st_mtim.tv_sec) * 1_000_000_000 + Int64(s.st_mtim.tv_nsec)
        ctimeNanoseconds = Int64(s.st_ctim.tv_sec) * 1_000_000_000 + Int64(s.st_ctim.tv_nsec)
        inode = UInt64(s.st_ino)
        device = UInt64(s.st_dev)
        linkCount = UInt64(s.st_nlink)
    }

    /// `fstat(2)` of an open descriptor.
    static func of(fd: Int32, path: String) throws(FSError) -> FileStat {
        var s = stat()
        guard fstat(fd, &s) == 0 else { throw FSError(path: path, errno: errno, operation: "fstat") }
        return FileStat(s)
    }

    /// Whether the content may differ from when `earlier` was taken (size, times or identity moved).
    public func contentMayDiffer(from earlier: FileStat) -> Bool {
        size != earlier.size || mtimeNanoseconds != earlier.mtimeNanoseconds
            || ctimeNanoseconds != earlier.ctimeNanoseconds || inode != earlier.inode || device != earlier.device
    }
}

import Glibc

/// An open regular file, read by offset, with the stat it was opened with.
///
/// Opening never blocks on a FIFO (`O_NONBLOCK`) and never follows a final symlink
/// (`O_NOFOLLOW`); anything but a regular file is refused before a byte is read.
///
/// `@unchecked Sendable`: the descriptor is immutable and `pread`/`fstat` on it are thread-safe;
/// the owner hands it to one reader (the curl thread) at a time.
public final class ReadableFile: @unchecked Sendable {
    /// The path it was opened by, for messages.
    public let path: String
    /// The stat taken right after opening.
    public let openedStat: FileStat
    private let fd: Int32

    /// Opens `path` for reading. Throws `FSError` naming the path and the reason.
    public init(path: String) throws(FSError) {
        let fd = FSCall.retryingEINTR { open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC) }
        guard fd >= 0 else { throw FSError(path: path, errno: errno, operation: "open") }
        do throws(FSError) {
            let stat = try FileStat.of(fd: fd, path: path)
            guard stat.kind == .regular else {
                throw FSError(path: path, reason: "is a \(stat.kind.rawValue), not a regular file")
            }
            self.openedStat = stat
        } catch {
            close(fd)
            throw error
        }
        self.fd = fd
        self.path = path
    }

    /// Adopts an open descriptor of a regular file (from `Folder.openForReading`).
    init(adopting fd: Int32, path: String, stat: FileStat) {
        self.fd = fd
        self.path = path
        self.openedStat = stat
    }

    deinit { close(fd) }

    /// Reads up to `buffer.count` bytes at `offset`; returns 0 at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(FSError) -> Int {
        let n = FSCall.retryingEINTR { pread(fd, buffer.baseAddress, buffer.count, off_t(offset)) }
        guard n >= 0 else { throw FSError(path: path, errno: errno, operation: "read") }
        return n
    }

    /// The file's stat now, through the open descriptor.
    public func currentStat() throws(FSError) -> FileStat {
        try FileStat.of(fd: fd, path: path)
    }
}

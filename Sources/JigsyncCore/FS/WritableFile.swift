import Glibc

/// A destination for downloaded bytes: a file that appears under its name only when complete
/// (written to a temporary name beside it, synced, renamed), or standard output.
///
/// `@unchecked Sendable`: used by one thread at a time (the curl thread while a download runs,
/// then the caller to commit or discard).
public final class WritableFile: @unchecked Sendable {
    private let fd: Int32
    private let finalPath: String?
    private let temporaryPath: String?
    private var finished = false

    /// A new file at `path`, created with `mode` under a temporary name until `commit()`.
    public init(creatingAt path: String, mode: mode_t = 0o644) throws(FSError) {
        let temporary = path + ".jigsync-partial-\(getpid())"
        let fd = FSCall.retryingEINTR { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode) }
        guard fd >= 0 else { throw FSError(path: temporary, errno: errno, operation: "open") }
        self.fd = fd
        self.finalPath = path
        self.temporaryPath = temporary
    }

    /// Standard output; `commit()` and `discard()` leave it open.
    public init(standardOutput: Void = ()) {
        self.fd = STDOUT_FILENO
        self.finalPath = nil
        self.temporaryPath = nil
    }

    deinit {
        if !finished { discard() }
    }

    /// Writes all of `bytes`, retrying short writes.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(FSError) {
        var done = 0
        while done < bytes.count {
            let n = FSCall.retryingEINTR { Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done) }
            guard n > 0 else { throw FSError(path: finalPath ?? "standard output", errno: errno, operation: "write") }
            done += n
        }
    }

    /// Makes the file durable and gives it its final name.
    public func commit() throws(FSError) {
        finished = true
        guard let finalPath, let temporaryPath else { return }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw FSError(path: temporaryPath, errno: errno, operation: "fsync") }
        guard rename(temporaryPath, finalPath) == 0 else { throw FSError(path: finalPath, errno: errno, operation: "rename") }
    }

    /// Removes the partial file.
    public func discard() {
        finished = true
        guard let temporaryPath else { return }
        close(fd)
        unlink(temporaryPath)
    }
}

import Glibc

/// Standard error written with write(2), each text in one call when it fits a pipe's atomic
/// size. Foundation's `FileHandle.write(_:)` traps when the write fails (EPIPE once the reader
/// of a `| tee` has gone, EAGAIN on a non-blocking journal stream): a log line must never end
/// the process, so a failed write is dropped.
public enum StandardError {
    public static func write(_ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0, errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}

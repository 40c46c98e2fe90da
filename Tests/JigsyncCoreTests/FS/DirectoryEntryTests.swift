import Glibc
@testable import JigsyncCore
import Testing

/// Reading names out of `readdir` records (the chaos soak found the daemon reading past them).
@Suite("directory entries")
struct DirectoryEntryTests {
    @Test("a record that ends the mapped buffer is read to its NUL, never past its own length")
    func recordAtTheEndOfAMapping() throws {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let mapped = mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        let base = try #require(mapped == UnsafeMutableRawPointer(bitPattern: -1) ? nil : mapped)
        defer { munmap(base, 2 * page) }
        // The page after the record is not readable, as at the end of a getdents buffer that
        // ends a heap mapping.
        #expect(mprotect(base + page, page, PROT_NONE) == 0)
        let name = Array("moved14886".utf8)
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        let length = (nameOffset + name.count + 1 + 7) & ~7   // the kernel's records are 8-byte aligned
        let record = base + page - length
        record.initializeMemory(as: UInt8.self, repeating: 0, count: length)
        record.storeBytes(of: UInt16(length), toByteOffset: MemoryLayout<dirent>.offset(of: \dirent.d_reclen)!, as: UInt16.self)
        record.storeBytes(of: UInt8(DT_DIR), toByteOffset: MemoryLayout<dirent>.offset(of: \dirent.d_type)!, as: UInt8.self)
        for (i, byte) in name.enumerated() { record.storeBytes(of: byte, toByteOffset: nameOffset + i, as: UInt8.self) }
        #expect(FolderWalker.entryName(record.assumingMemoryBound(to: dirent.self)) == name)
    }
}

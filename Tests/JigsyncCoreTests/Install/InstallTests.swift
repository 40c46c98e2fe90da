import Foundation
import Testing

/// `make install` and the systemd units it installs.
@Suite("make install and the systemd units")
struct InstallTests {
    @Test("make install DESTDIR=… lays out the binaries, units, sample config, man page and completions where the units expect them")
    func installLayout() throws {
        let destination = TemporaryDirectory.make(prefix: "install")
        let make = try ProcessRun.run(URL(fileURLWithPath: "/usr/bin/make"),
                                      ["-C", Products.packageRoot.path, "install", "DESTDIR=\(destination.path)", "BUILT=\(Products.directory.path)"])
        #expect(make.status == 0, "\(make.stdout)\(make.stderr)")
        for file in ["usr/local/bin/jigsync", "usr/local/bin/jigsync-emulator", "usr/local/lib/systemd/system/jigsync.service",
                     "usr/local/lib/systemd/system/jigsync@.service", "etc/jigsync/config.sample.yaml",
                     "usr/local/share/man/man1/jigsync.1", "usr/local/share/bash-completion/completions/jigsync",
                     "usr/local/share/zsh/site-functions/_jigsync", "usr/local/share/fish/vendor_completions.d/jigsync.fish"] {
            #expect(FileManager.default.fileExists(atPath: destination.appending(path: file).path), "\(file)")
        }
        let unit = try String(contentsOf: destination.appending(path: "usr/local/lib/systemd/system/jigsync.service"), encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/local/bin/jigsync run --config ${CONFIGURATION_DIRECTORY}/config.yaml"))
        #expect(FileManager.default.isExecutableFile(atPath: destination.appending(path: "usr/local/bin/jigsync").path))
        let manual = try String(contentsOf: destination.appending(path: "usr/local/share/man/man1/jigsync.1"), encoding: .utf8)
        for command in ["run", "sync", "status", "key", "url", "retry", "check", "put", "get", "delete"] {
            #expect(manual.contains(".SH \"jigsync \(command)\""), "\(command)")
        }

        // systemd-analyze verify, in a root that holds the installed files and the system's units.
        let system = destination.appending(path: "usr/lib")
        try FileManager.default.createDirectory(at: system, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: system.appending(path: "systemd").path, withDestinationPath: "/usr/lib/systemd")
        for name in ["jigsync.service", "jigsync@.service"] {
            let verify = try ProcessRun.run(URL(fileURLWithPath: "/usr/bin/systemd-analyze"),
                                            ["verify", "--man=no", "--root=\(destination.path)",
                                             destination.appending(path: "usr/local/lib/systemd/system/\(name)").path])
            #expect(verify.status == 0, "\(name): \(verify.stderr.split(separator: "\n").filter { !$0.contains("symlink") }.joined(separator: "\n"))")
        }
    }

    @Test("systemd-analyze security --offline rates jigsync.service at an exposure of 2.0 or less")
    func exposure() throws {
        let unit = Products.packageRoot.appending(path: "systemd/jigsync.service").path
        let security = try ProcessRun.run(URL(fileURLWithPath: "/usr/bin/systemd-analyze"), ["security", "--offline=true", "--no-pager", unit])
        let line = try #require((security.stdout + security.stderr).split(separator: "\n").first { $0.contains("Overall exposure level") })
        let value = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) })
        #expect(value <= 2.0, "\(line)")
    }
}

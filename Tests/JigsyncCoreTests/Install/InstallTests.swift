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
        for file in ["usr/local/bin/jigsync", "usr/local/lib/systemd/system/jigsync.service",
                     "usr/local/lib/systemd/system/jigsync@.service", "etc/jigsync/config.sample.yaml",
                     "usr/local/share/man/man1/jigsync.1", "usr/local/share/bash-completion/completions/jigsync",
                     "usr/local/share/zsh/site-functions/_jigsync", "usr/local/share/fish/vendor_completions.d/jigsync.fish"] {
            #expect(FileManager.default.fileExists(atPath: destination.appending(path: file).path), "\(file)")
        }
        let unit = try String(contentsOf: destination.appending(path: "usr/local/lib/systemd/system/jigsync.service"), encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/local/bin/jigsync run --config ${CONFIGURATION_DIRECTORY}/config.yaml"))
        #expect(FileManager.default.isExecutableFile(atPath: destination.appending(path: "usr/local/bin/jigsync").path))
        let manual = try String(contentsOf: destination.appending(path: "usr/local/share/man/man1/jigsync.1"), encoding: .utf8)
        let commands = ["run", "sync", "status", "key", "url", "retry", "check", "pause", "resume", "reload", "versions", "restore", "events", "put", "get", "delete"]
        for command in commands {
            #expect(manual.contains(".SS \"jigsync \(command)\""), "\(command)")
        }
        // Every heading is a real section or command: a wrapped help line never becomes one.
        let headings = manual.split(separator: "\n").filter { $0.hasPrefix(".SH") || $0.hasPrefix(".SS") }
        let allowed = Set(["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "CONFIGURATION", "EXIT STATUS", "ENVIRONMENT", "FILES", "SEE ALSO"]
                          + commands.map { "\"jigsync \($0)\"" })
        for heading in headings {
            #expect(allowed.contains(String(heading.dropFirst(4))), "bogus heading: \(heading)")
        }
        #expect(headings.count == allowed.count, "\(headings)")
        for key in ["folders[].prefix", "upload.retry_for", "api.api_key", "log.level"] {
            #expect(manual.contains(key), "the manual lacks \(key)")
        }
        #expect(manual.contains("--endpoint".replacingOccurrences(of: "-", with: "\\-")))
        // man renders it without warnings (tbl for the configuration table).
        let rendered = try ProcessRun.run(URL(fileURLWithPath: "/bin/sh"),
                                          ["-c", "MANWIDTH=100 man --warnings -l \"$0\" 2>&1 >/dev/null; MANWIDTH=100 man -l \"$0\" | col -b",
                                           destination.appending(path: "usr/local/share/man/man1/jigsync.1").path])
        if rendered.status == 0, !rendered.stdout.isEmpty {
            #expect(rendered.stdout.contains("EXIT STATUS"))
            #expect(rendered.stdout.contains("upload.retry_for"))
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

    @Test("the template unit keeps its state and runtime directories beside the main unit's, never inside them")
    func templateDirectories() throws {
        func settings(_ name: String) throws -> [String: String] {
            let text = try String(contentsOf: Products.packageRoot.appending(path: "systemd/\(name)"), encoding: .utf8)
            var found: [String: String] = [:]
            for line in text.split(separator: "\n") where line.contains("Directory") && line.contains("=") && !line.hasPrefix("#") {
                let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
                found[parts[0]] = parts[1]
            }
            return found
        }
        let main = try settings("jigsync.service"), template = try settings("jigsync@.service")
        for key in ["StateDirectory", "RuntimeDirectory"] {
            let mine = try #require(template[key], "\(key) missing in jigsync@.service")
            let theirs = try #require(main[key])
            #expect(!mine.contains("/"), "\(key)=\(mine) nests a directory")
            #expect(mine != theirs && !mine.hasPrefix(theirs + "/"), "\(key)=\(mine) is inside the main unit's \(theirs)")
            #expect(mine.contains("%i"), "\(key)=\(mine) is not per instance")
            #expect(template[key + "Mode"] == "0700", "\(key)Mode")
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

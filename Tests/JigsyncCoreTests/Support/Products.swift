import Foundation

/// Where the package's built executables are, for tests that run them as real processes.
enum Products {
    /// The build products directory: beside the test bundle (`swift test` builds every product there).
    static let directory: URL = {
        var candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent())
        }
        for candidate in candidates where FileManager.default.fileExists(atPath: candidate.appending(path: "jigsync-emulator").path) {
            return candidate
        }
        return Bundle.main.bundleURL
    }()

    static var emulator: URL { directory.appending(path: "jigsync-emulator") }
    static var jigsync: URL { directory.appending(path: "jigsync") }

    /// The package's root, for fixtures kept beside the tests.
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

// swift-tools-version:6.2
// libFuzzer targets for the parsers of outside input. Not part of the product: built only by
// `make fuzz` (scripts/fuzz), with `-sanitize=fuzzer,address` and `-enable-testing` for every
// module, so the targets reach jigsync's internal parsers through `@testable import`.
import PackageDescription

let package = Package(
    name: "jigsync-fuzz",
    dependencies: [.package(name: "jigsync", path: "..")],
    targets: [
        .executableTarget(
            name: "FuzzParsers",
            dependencies: [.product(name: "JigsyncCore", package: "jigsync")],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)

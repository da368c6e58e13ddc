// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "mpm-run",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mpm-run", targets: ["MPMRunCLI"]),
        .library(name: "MPMRun", targets: ["MPMRun"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // 4.x imports FoundationEssentials where it exists: mpm-run links neither the whole of
        // Foundation nor ICU (3.x did), which halves the static binary and shortens its start.
        .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0"),
    ],
    targets: [
        // System libraries, linked through pkg-config (Debian's -dev packages).
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CCap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        // The only code that runs between clone and execve, plus thin wrappers for
        // variadic or _GNU_SOURCE-only calls that Swift cannot reach directly.
        .target(name: "CLauncher"),
        .target(
            name: "MPMRun",
            dependencies: [
                "CSeccomp", "CCap", "CYAML", "CLauncher",
                // SHA-256 for the audit log's hash chain.
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "MPMRunCLI",
            dependencies: [
                "MPMRun",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "MPMRunTests", dependencies: ["MPMRun"]),
        // Tests/Probe/mpm-probe.c, the attacker the end-to-end tests run inside the sandbox, is
        // compiled by the tests with the system C compiler: a SwiftPM target would link the
        // Swift runtime, which the sandbox does not expose.
        .testTarget(name: "EndToEndTests", dependencies: ["MPMRun"]),
    ]
)

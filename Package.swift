// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "dist-train",
    products: [
        .executable(name: "dist-train", targets: ["dist-train"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C boundaries: system libraries found with pkg-config.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),

        // im2col/col2im, direct convolutions and the elementwise passes, built for AVX-512,
        // AVX2 and baseline x86-64 and picked at run time.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),

        // Buffers, GEMM, layers, models: the BLAS core.
        .target(name: "NeuralCore", dependencies: ["CBLAS", "CKernels"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        // Energies, DER, AAE mask, attacks.
        .target(name: "Adversarial", dependencies: ["NeuralCore", "CKernels"],
                swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        // Communicator protocol with MPI and single-process implementations.
        .target(name: "Distributed", dependencies: ["CMPI"]),
        // File formats: IDX and CIFAR-10 readers, checkpoints, atomic writes.
        .target(name: "DataIO", dependencies: ["CZlib"]),
        // What a run shows: TensorBoard event files, SVG plots, the HTML report.
        .target(name: "Observatory", dependencies: ["DataIO"]),
        // Data, sharding, optimizer, schedules, trainer loop, checkpoints, metrics.
        .target(name: "Training",
                dependencies: ["NeuralCore", "Adversarial", "Distributed", "DataIO", "Observatory", "CKernels"]),
        .executableTarget(name: "dist-train", dependencies: [
            "Training", "NeuralCore", "Adversarial", "Distributed", "DataIO",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .target(name: "TestSupport", dependencies: ["NeuralCore"], path: "Tests/TestSupport"),
        .testTarget(name: "NeuralCoreTests", dependencies: ["NeuralCore", "CKernels", "TestSupport"]),
        .testTarget(name: "AdversarialTests", dependencies: ["Adversarial", "NeuralCore", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Adversarial", "NeuralCore", "Distributed", "DataIO", "TestSupport"]),
        .testTarget(name: "ObservatoryTests", dependencies: ["Observatory", "DataIO", "TestSupport"]),
        .testTarget(name: "DataIOTests", dependencies: ["DataIO", "TestSupport"], exclude: ["FuzzRegressions"]),
        .testTarget(name: "ParityTests", dependencies: ["Training", "Adversarial", "NeuralCore", "DataIO", "TestSupport", "dist-train"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "ClusterTests", dependencies: ["TestSupport", "DataIO"]),
        .testTarget(name: "EndToEndTests", dependencies: ["TestSupport", "DataIO"]),
    ]
)

/// The built-in architectures. Each mirrors a PyTorch `nn.Sequential` layer for layer
/// (see docs/pytorch.md), so parameter names and layouts match PyTorch's.
public enum ModelKind: String, CaseIterable, Sendable, Codable {
    /// Flatten, Linear(in, 256), ReLU, Linear(256, 256), ReLU, Linear(256, classes).
    case mlp
    /// Wong et al.'s MNIST net: Conv2d(c, 16, 4, 2, 1), ReLU, Conv2d(16, 32, 4, 2, 1), ReLU,
    /// Flatten, Linear(32·H/4·W/4, 100), ReLU, Linear(100, classes).
    case cnnSmall = "cnn-small"
    /// Madry et al.'s MNIST net: Conv2d(c, 32, 5, padding 2), ReLU, MaxPool2d(2),
    /// Conv2d(32, 64, 5, padding 2), ReLU, MaxPool2d(2), Flatten, Linear(64·H/4·W/4, 1024),
    /// ReLU, Linear(1024, classes).
    case cnnLarge = "cnn-large"

    /// `fuseReLU` as for `Network.init` (bitwise the same results either way).
    public func build(input: Shape, classes: Int, fuseReLU: Bool = true) -> Network {
        var layers: [any Layer] = []
        var shape = input
        var layout = Layout.chw
        func add(_ l: any Layer) { layers.append(l); shape = l.outputShape; layout = l.outputLayout }
        func relu() { add(ReLU(shape: shape, layout: layout)) }
        func conv(_ out: Int, _ k: Int, _ s: Int, _ p: Int) {
            add(Conv2d(input: shape, layout: layout, outChannels: out, kernel: k, stride: s, padding: p))
        }
        func linear(_ out: Int) { add(Linear(shape.count, out)) }
        switch self {
        case .mlp:
            add(Flatten(shape: shape, layout: layout)); linear(256); relu(); linear(256); relu(); linear(classes)
        case .cnnSmall:
            conv(16, 4, 2, 1); relu(); conv(32, 4, 2, 1); relu()
            add(Flatten(shape: shape, layout: layout)); linear(100); relu(); linear(classes)
        case .cnnLarge:
            conv(32, 5, 1, 2); relu(); add(MaxPool2d(shape: shape))
            conv(64, 5, 1, 2); relu(); add(MaxPool2d(shape: shape))
            add(Flatten(shape: shape, layout: layout)); linear(1024); relu(); linear(classes)
        }
        return Network(layers: layers, fuseReLU: fuseReLU)
    }
}

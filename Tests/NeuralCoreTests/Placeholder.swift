import XCTest
final class NeuralCoreTestsPlaceholder: XCTestCase { func testNothing() {} }

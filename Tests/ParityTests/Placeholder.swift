import XCTest
final class ParityPlaceholder: XCTestCase { func testNothing() {} }

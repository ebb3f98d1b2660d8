import XCTest
final class ObservatoryPlaceholder: XCTestCase { func testNothing() {} }

import XCTest
final class AdversarialTestsPlaceholder: XCTestCase { func testNothing() {} }

import XCTest
final class DataIOPlaceholder: XCTestCase { func testNothing() {} }

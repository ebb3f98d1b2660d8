import XCTest
final class ClusterPlaceholder: XCTestCase { func testNothing() {} }

import Distributed
import XCTest

/// The Open MPI settings a rank gives itself before MPI_Init: only those the environment
/// does not already name, so a user's own choice wins.
final class TransportDefaultsTests: XCTestCase {
    func testSingleCopyOffUnlessTheEnvironmentNamesIt() {
        let unset = MPICommunicator.transportDefaults(environment: ["PATH": "/bin"])
        XCTAssertEqual(MPICommunicator.singleCopyVariable, "OMPI_MCA_btl_vader_single_copy_mechanism")
        XCTAssertEqual(unset.map(\.name), [MPICommunicator.singleCopyVariable])
        XCTAssertEqual(unset.map(\.value), ["none"])
        XCTAssertTrue(MPICommunicator.transportDefaults(environment: ["OMPI_MCA_btl_vader_single_copy_mechanism": "cma"]).isEmpty)
        XCTAssertTrue(MPICommunicator.transportDefaults(environment: ["OMPI_MCA_btl_vader_single_copy_mechanism": ""]).isEmpty,
                      "set but empty is still the user's")
    }
}

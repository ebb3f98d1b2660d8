import Distributed
import XCTest

/// The Open MPI settings a rank gives itself before MPI_Init: only those the environment
/// does not already name, so a user's own choice wins.
final class TransportDefaultsTests: XCTestCase {
    func testEachTransportDefaultUnlessTheEnvironmentNamesIt() {
        let unset = MPICommunicator.transportDefaults(environment: ["PATH": "/bin"])
        XCTAssertEqual(MPICommunicator.singleCopyVariable, "OMPI_MCA_btl_vader_single_copy_mechanism")
        XCTAssertEqual(MPICommunicator.maxSendSizeVariable, "OMPI_MCA_btl_vader_max_send_size")
        XCTAssertEqual(unset.map(\.name), [MPICommunicator.singleCopyVariable, MPICommunicator.maxSendSizeVariable])
        XCTAssertEqual(unset.map(\.value), ["none", "262144"])
        XCTAssertEqual(MPICommunicator.transportDefaults(environment: ["OMPI_MCA_btl_vader_single_copy_mechanism": "cma"]).map(\.name),
                       [MPICommunicator.maxSendSizeVariable], "each variable on its own")
        XCTAssertEqual(MPICommunicator.transportDefaults(environment: ["OMPI_MCA_btl_vader_max_send_size": ""]).map(\.name),
                       [MPICommunicator.singleCopyVariable], "set but empty is still the user's")
        XCTAssertTrue(MPICommunicator.transportDefaults(environment: ["OMPI_MCA_btl_vader_single_copy_mechanism": "cma",
                                                                      "OMPI_MCA_btl_vader_max_send_size": "32768"]).isEmpty)
    }
}

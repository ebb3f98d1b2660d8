import ArgumentParser
import Observatory

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Rebuild DIR/report.html from the files of a finished or running run.",
        discussion: """
            The page is self-contained (inline SVG and CSS, no external resources): curves per epoch \
            with the alarms marked, energy quiver plots per epoch from energies/epoch-N.csv, and the \
            configuration. Training rewrites it after every epoch.
            """)

    @Argument(help: "The run directory (the trainer's --out).")
    var directory: String

    func run() throws {
        do { try Report.write(runDirectory: directory) } catch { throw CLIError("\(directory): \(error)") }
        print("wrote \(directory)/report.html")
    }
}

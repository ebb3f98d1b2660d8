import ArgumentParser
import Observatory

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Rebuild DIR/report.html from the files of a finished or running run.",
        discussion: """
            The page is self-contained (inline SVG and CSS, no external resources): curves per epoch \
            with the alarms marked, energy quiver plots per epoch from energies/epoch-N.csv, and the \
            configuration. Training rewrites it after every epoch. The quiver plots are also \
            (re)written as files, energies/quiver-epoch-N.svg and energies/quiver-aae-epoch-N.svg.
            """)

    @Argument(help: "The run directory (the trainer's --out).")
    var directory: String

    func run() throws {
        let quivers: [Int]
        do {
            try Report.write(runDirectory: directory)   // first: it checks that the directory exists
            quivers = try QuiverFiles.writeAll(runDirectory: directory)
            if !quivers.isEmpty { try Report.write(runDirectory: directory) }   // now with links to the files
        } catch { throw CLIError("\(directory): \(error)") }
        print("wrote \(directory)/report.html" + (quivers.isEmpty ? "" : " and the quiver plots of \(quivers.count) epoch(s) in \(directory)/energies"))
    }
}

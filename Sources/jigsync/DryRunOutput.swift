import ArgumentParser
import Foundation
import JigsyncCore

/// `sync --dry-run` and `run --dry-run`: plans once against the ledger, read-only, prints what
/// would be done and why, and sends nothing.
enum DryRunOutput {
    static func run(_ options: SyncOptions, deleteByDefault: Bool) async throws {
        let file = try options.configuration()
        let specs = try options.folderSpecs(from: file)
        let engine = options.engineSettings(from: file)
        let report: DryRun.Report
        do {
            report = try await DryRun.plan(specs, ledgerPath: options.ledgerPath(from: file), maxSize: engine.maxSize,
                                           deleteByDefault: deleteByDefault, damage: engine.damageGuard)
        } catch {
            StandardError.write("jigsync: \(error)\n")
            throw ExitCode(2)
        }
        // One line per file; names may hold newlines or tabs, so they are escaped.
        for entry in report.entries {
            var line = "\(entry.action.rawValue)\t\(entry.path.escapedForDisplay)"
            if entry.action != .skip { line += " → \(entry.key.escapedForDisplay)" }
            if let reason = entry.reason { line += " (\(reason.escapedForDisplay))" }
            print(line)
        }
        for hold in report.guardHolds { print("guard\t\(hold.escapedForDisplay)") }
        for problem in report.problems { print("problem\t\(problem.escapedForDisplay)") }
        let counts = DryRun.Action.allCases.map { "\(report.count($0)) \($0.rawValue)" }.joined(separator: ", ")
        print("dry run, nothing sent and the ledger untouched: \(counts), \(report.unchanged) unchanged")
    }
}

import Yams

/// A YAML syntax error in words an operator acts on, with the line and column to look at.
///
/// libyaml reports what its parser expected ("did not find expected key while parsing a block
/// mapping"); the person editing the file needs to hear what is wrong with what they wrote.
struct YAMLSyntaxProblem {
    var line: Int
    var column: Int
    var reason: String

    init(_ error: YamlError, text: String) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        func indentHasTab(_ line: Int) -> Bool {
            guard line >= 1, line <= lines.count else { return false }
            return lines[line - 1].prefix { $0 == " " || $0 == "\t" }.contains("\t")
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            line = mark.line
            column = mark.column
            let contextLine = context?.mark.line
            if problem.contains("tab") || indentHasTab(mark.line) || contextLine.map(indentHasTab) == true {
                let tabbed = indentHasTab(mark.line) ? mark.line : (contextLine ?? mark.line)
                line = tabbed
                column = (lines.indices.contains(tabbed - 1) ? lines[tabbed - 1].prefix { $0 == " " }.count : 0) + 1
                reason = "a tab in the indentation; YAML indents with spaces only"
            } else if problem.contains("end of stream"), context?.text.contains("quoted scalar") == true, let start = context?.mark {
                line = start.line
                column = start.column
                reason = "a quoted string is never closed (its quote opens here)"
            } else if problem.contains("could not find expected ':'"), let start = context?.mark {
                line = start.line
                column = start.column
                reason = "a key without a colon: write `key: value`"
            } else if problem.contains("mapping values are not allowed") {
                reason = "unexpected `:`: the indentation is off, or a value containing `: ` needs quotes"
            } else if problem.contains("did not find expected key") {
                reason = "this line is not indented like the keys above it" + Self.started(context, verb: "the block starts")
            } else if problem.contains("did not find expected '-'") {
                reason = "this line is not indented like the list items above it" + Self.started(context, verb: "the list starts")
            } else if problem.contains("did not find expected ',' or ']'") {
                reason = "a `[` list is not closed with `]`" + Self.started(context, verb: "it opens")
            } else if problem.contains("did not find expected ',' or '}'") {
                reason = "a `{` mapping is not closed with `}`" + Self.started(context, verb: "it opens")
            } else if problem.contains("did not find expected node content"), context?.text.contains("flow sequence") == true
                        || context?.text.contains("flow node") == true {
                // `folders: [` and the file ends: the list's next item never comes.
                reason = "a `[` list is not closed with `]`" + Self.started(context, verb: "it opens")
            } else if problem.contains("did not find expected node content") {
                reason = "a value is missing here"
            } else if problem.contains("cannot start any token") {
                reason = "this character cannot start a value; put the value in quotes"
            } else {
                reason = problem + (context.map { " (\($0.text))" } ?? "")
            }
        case .duplicatedKeysInMapping(let duplicates, let context):
            line = context.mark.line
            column = context.mark.column
            reason = "the key \(duplicates.map { "`\($0)`" }.joined(separator: ", ")) appears more than once in this mapping"
        case .reader(let problem, _, _, _):
            line = 1
            column = 1
            reason = "cannot be read as text: \(problem)"
        default:
            line = 1
            column = 1
            reason = "\(error)"
        }
    }

    private static func started(_ context: YamlError.Context?, verb: String) -> String {
        guard let context else { return "" }
        return " (\(verb) at line \(context.mark.line))"
    }
}

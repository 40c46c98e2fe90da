/// jigsync's version, reported in `--version` and the `User-Agent`.
public enum JigsyncVersion {
    public static let current = "0.1.0"
}

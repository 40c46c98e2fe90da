/// What the emulator was started with.
struct EmulatorSettings: Sendable {
    var apiKey: String
    var publicKey: String
    /// Largest body accepted, in bytes; larger is 413.
    var maxBytes: Int64
    /// Delay added before every API answer, in milliseconds.
    var latencyMilliseconds: Int
    /// How long a temporary public URL stays valid, in seconds.
    var temporaryURLSeconds: Int
}

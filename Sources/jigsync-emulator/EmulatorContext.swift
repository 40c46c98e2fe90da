import Hummingbird
import NIOCore

/// The request context: Hummingbird's core storage plus the connection, so a fault can cut it.
struct EmulatorContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }
}

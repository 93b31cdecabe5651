/// The admin listener (`/metrics`, `/healthz`, `/readyz`). A separate port, so an admin path can
/// never be mistaken for a bucket name.
public struct AdminSettings: Sendable, Equatable {
    public var bind: String
    public var port: Int

    public init(bind: String = "127.0.0.1", port: Int) {
        self.bind = bind
        self.port = port
    }
}

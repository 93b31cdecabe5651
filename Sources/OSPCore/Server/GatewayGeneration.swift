import Dispatch
import NIOCore
import NIOPosix

/// One loaded configuration's `Gateway`, shared by every request that started under it.
///
/// A reload makes a new generation; requests in flight keep the one they started with, so a
/// request is never authenticated under one keystore and authorized under another rule set.
/// A generation a reload made owns its callout threads and stops them when the last request
/// (and connection) holding it lets go: repeated reloads leave no threads behind. The first
/// generation wraps the gateway the server was given; its owner shuts that down.
final class GatewayGeneration: Sendable {
    let gateway: Gateway
    /// 1 for the config the server started with, +1 per reload: in logs, so a reload can be told apart.
    let number: Int
    private let ownsCallouts: Bool

    init(_ gateway: Gateway, number: Int, ownsCallouts: Bool) {
        self.gateway = gateway
        self.number = number
        self.ownsCallouts = ownsCallouts
    }

    deinit {
        guard self.ownsCallouts else { return }
        // Never blocks: the threads are joined on a queue of the pool's own. Work still queued
        // (a lookup whose client has gone) is cancelled, which its futures report as a failure.
        self.gateway.callouts.shutdownGracefully(queue: .global()) { _ in }
    }
}

/// The generation new requests on one event loop start with. Each client connection reads it
/// at every request head: a plain load, as it is only ever touched on its own loop (a reload
/// replaces it there), so swapping configs costs requests no lock and no atomic.
final class CurrentGateway {
    var generation: GatewayGeneration

    init(_ generation: GatewayGeneration) {
        self.generation = generation
    }
}

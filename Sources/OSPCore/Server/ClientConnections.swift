import NIOConcurrencyHelpers
import NIOCore

/// The open client connections of one S3 listener, so that a shutdown can drain them instead
/// of cutting them: closing the listening socket alone stops new connections, but leaves idle
/// keep-alive connections open until their idle timeout and says nothing about when the
/// requests in flight are done.
///
/// Two states: admitting (every accepted connection is registered until it closes) and
/// draining (no connection is admitted any more; the ones open are told to finish with
/// `DrainConnectionEvent` and watched until they close).
final class ClientConnections: Sendable {
    private struct State {
        var open: [ObjectIdentifier: any Channel] = [:]
        var draining = false
    }

    private let state = NIOLockedValueBox(State())

    /// Registers an accepted connection until it closes. False once draining started: the
    /// caller closes the connection (it was accepted in the moment the listener closed).
    func admit(_ channel: any Channel) -> Bool {
        let id = ObjectIdentifier(channel)
        let admitted = self.state.withLockedValue { state in
            guard !state.draining else { return false }
            state.open[id] = channel
            return true
        }
        if admitted {
            channel.closeFuture.whenComplete { _ in
                self.state.withLockedValue { _ = $0.open.removeValue(forKey: id) }
            }
        }
        return admitted
    }

    /// Whether a shutdown has started (a readiness probe answers "not ready" from then on).
    var isDraining: Bool {
        self.state.withLockedValue { $0.draining }
    }

    /// Connections open now.
    var count: Int {
        self.state.withLockedValue { $0.open.count }
    }

    /// Stops admitting connections and returns the ones open now. Idempotent: a later call
    /// returns the connections still open then.
    func startDraining() -> [any Channel] {
        self.state.withLockedValue { state in
            state.draining = true
            return Array(state.open.values)
        }
    }

    /// Drains `connections`: each is told to finish (idle ones close at once, busy ones after
    /// their response), and those still open after `grace` are closed. Completes when all are closed.
    static func drain(
        _ connections: [any Channel],
        grace: TimeAmount,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<DrainOutcome> {
        for channel in connections {
            channel.pipeline.fireUserInboundEventTriggered(DrainConnectionEvent())
        }
        let closed = EventLoopFuture.andAllComplete(connections.map { $0.closeFuture }, on: eventLoop)
        let deadline = eventLoop.scheduleTask(in: grace) { () -> Int in
            let stragglers = connections.filter { $0.isActive }
            for channel in stragglers {
                channel.close(promise: nil)
            }
            return stragglers.count
        }
        return closed.flatMap {
            deadline.cancel()
            return deadline.futureResult.map { DrainOutcome(connections: connections.count, closedAtDeadline: $0) }
                .recover { _ in DrainOutcome(connections: connections.count, closedAtDeadline: 0) }
        }
    }
}

/// How a drain ended: how many connections it waited for, and how many of them still had a
/// request in flight when the grace period ran out.
struct DrainOutcome: Sendable, Equatable {
    var connections: Int
    var closedAtDeadline: Int
}

/// Sent down a client connection's pipeline when the server shuts down: an idle connection
/// closes now; one with a request in flight answers it with `Connection: close` (or, if its
/// response has started, closes right after it).
struct DrainConnectionEvent: Sendable {}

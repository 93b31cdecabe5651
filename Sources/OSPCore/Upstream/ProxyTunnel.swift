import NIOCore
import NIOHTTP1

/// The `CONNECT` handshake with a forward proxy as an explicit state machine: osp asks for a
/// tunnel to the backend, and only a 2xx answer with no body opens it. Everything else — a 407,
/// a 403 from the proxy's ACL, a closed connection, silence past the deadline — fails the backend
/// connection, so the client gets 502 and nothing ever reaches the backend.
struct ProxyTunnelStateMachine {
    private enum State {
        case idle
        case connectSent
        case tunnelGranted
        case established
        case failed
    }

    enum Action: Equatable {
        case sendConnect
        case none
        case succeed
        case fail(String)
    }

    private var state = State.idle

    mutating func channelActive() -> Action {
        guard case .idle = state else { return .none }
        state = .connectSent
        return .sendConnect
    }

    mutating func receivedHead(_ head: HTTPResponseHead) -> Action {
        guard case .connectSent = state else { return failUnlessFinished("an unexpected response from the proxy") }
        guard (200..<300).contains(head.status.code) else {
            state = .failed
            return .fail("the proxy refused the tunnel: \(head.status.code) \(head.status.reasonPhrase)")
        }
        state = .tunnelGranted
        return .none
    }

    mutating func receivedBody() -> Action {
        failUnlessFinished("the proxy sent a body with its CONNECT answer")
    }

    mutating func receivedEnd() -> Action {
        guard case .tunnelGranted = state else { return failUnlessFinished("an incomplete CONNECT answer from the proxy") }
        state = .established
        return .succeed
    }

    mutating func channelInactive() -> Action {
        failUnlessFinished("the proxy closed the connection during CONNECT")
    }

    mutating func deadlinePassed() -> Action {
        failUnlessFinished("no CONNECT answer from the proxy in time")
    }

    mutating func handlerRemoved() -> Action {
        failUnlessFinished("the CONNECT handshake was abandoned")
    }

    mutating func errorCaught(_ error: any Error) -> Action {
        failUnlessFinished("CONNECT failed: \(type(of: error))")
    }

    private mutating func failUnlessFinished(_ reason: String) -> Action {
        switch state {
        case .established, .failed:
            return .none
        case .idle, .connectSent, .tunnelGranted:
            state = .failed
            return .fail(reason)
        }
    }
}

/// Why a tunnel through the proxy could not be opened; never holds the proxy's credentials.
struct ProxyTunnelError: Error, CustomStringConvertible {
    var description: String
}

/// Carries out `ProxyTunnelStateMachine` on a fresh proxy connection, behind its own HTTP
/// encoder and decoder. When `established` succeeds the connection is a raw byte pipe to the
/// backend: the pool then removes these three handlers and puts TLS and the exchange handlers in.
final class ProxyTunnelHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private var machine = ProxyTunnelStateMachine()
    private let authority: String
    private let proxyAuthorization: String?
    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?
    private let promise: EventLoopPromise<Void>

    /// Succeeds once the proxy opened the tunnel; fails with a `ProxyTunnelError`.
    var established: EventLoopFuture<Void> { promise.futureResult }

    /// - Parameters:
    ///   - host, port: the backend the tunnel goes to.
    ///   - proxyAuthorization: the `Proxy-Authorization` value, when the proxy needs credentials.
    init(host: String, port: Int, proxyAuthorization: String?, timeout: TimeAmount, eventLoop: any EventLoop) {
        self.authority = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        self.proxyAuthorization = proxyAuthorization
        self.timeout = timeout
        self.promise = eventLoop.makePromise()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { perform(machine.channelActive(), context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if case .fail(let reason) = machine.handlerRemoved() {
            deadline?.cancel()
            promise.fail(ProxyTunnelError(description: reason))
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        perform(machine.channelActive(), context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        perform(machine.channelInactive(), context: context)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch Self.unwrapInboundIn(data) {
        case .head(let head): perform(machine.receivedHead(head), context: context)
        case .body: perform(machine.receivedBody(), context: context)
        case .end: perform(machine.receivedEnd(), context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        perform(machine.errorCaught(error), context: context)
    }

    private func perform(_ action: ProxyTunnelStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .sendConnect:
            var head = HTTPRequestHead(version: .http1_1, method: .CONNECT, uri: authority)
            head.headers.add(name: "host", value: authority)
            if let proxyAuthorization {
                head.headers.add(name: "proxy-authorization", value: proxyAuthorization)
            }
            let loop = context.eventLoop.assumeIsolated()
            deadline = loop.scheduleTask(in: timeout) { [weak self] in
                guard let self else { return }
                self.perform(self.machine.deadlinePassed(), context: context)
            }
            context.write(Self.wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        case .succeed:
            deadline?.cancel()
            promise.succeed(())
        case .fail(let reason):
            deadline?.cancel()
            promise.fail(ProxyTunnelError(description: reason))
            context.close(promise: nil)
        }
    }
}

import NIOCore
import NIOHTTP1

/// Whoever currently leases a backend connection: receives its response parts and hears
/// when it can take more request bytes. Called on the connection's (= the client's) event loop.
protocol UpstreamExchangeDelegate: AnyObject {
    func upstreamResponsePart(_ part: HTTPClientResponsePart)
    func upstreamReadComplete()
    func upstreamWritabilityChanged(isWritable: Bool)
    func upstreamFailed(_ error: UpstreamError)
}

/// Why a backend exchange ended before its response did.
enum UpstreamError: Error, Equatable {
    case connectFailed(String)
    case closedEarly
    case timedOut
    case protocolError(String)
}

/// The last handler of a pooled backend connection. It hands response parts to the current
/// lessee and applies backpressure to the backend: while the client cannot take more bytes,
/// reads from the backend are held back.
final class UpstreamConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    weak var delegate: (any UpstreamExchangeDelegate)?
    private var context: ChannelHandlerContext?
    private var readsHeld = false
    private var readPending = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Stop asking the backend for bytes until `resumeReads()`.
    func holdReads() {
        self.readsHeld = true
    }

    func resumeReads() {
        self.readsHeld = false
        if self.readPending, let context = self.context {
            self.readPending = false
            context.read()
        }
    }

    func read(context: ChannelHandlerContext) {
        if self.readsHeld {
            self.readPending = true
        } else {
            context.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = Self.unwrapInboundIn(data)
        if let delegate = self.delegate {
            delegate.upstreamResponsePart(part)
        } else {
            // A response nobody asked for: the connection is out of step; never reuse it.
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        self.delegate?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        self.delegate?.upstreamWritabilityChanged(isWritable: context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed(.closedEarly)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is UpstreamStallTimer.Stalled {
            let delegate = self.delegate
            self.delegate = nil
            delegate?.upstreamFailed(.timedOut)
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let delegate = self.delegate
        self.delegate = nil
        delegate?.upstreamFailed(.protocolError(String(describing: type(of: error))))
        context.close(promise: nil)
    }
}

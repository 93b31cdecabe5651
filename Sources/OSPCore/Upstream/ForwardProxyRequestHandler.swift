import NIOCore
import NIOHTTP1

/// Rewrites each request head for a plain-HTTP backend reached through a forward proxy: the
/// request-line becomes absolute-form (`http://host[:port]/path?query`, RFC 9112 §3.2.2) built
/// from the head's `Host`, and the proxy's credentials are added. Only the request-line changes:
/// the SigV4 signature was computed over the origin path and the `Host` header, which the proxy
/// forwards unchanged, so the backend still verifies it.
final class ForwardProxyRequestHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private let proxyAuthorization: String?

    init(proxyAuthorization: String?) {
        self.proxyAuthorization = proxyAuthorization
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .head(var head) = Self.unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        head.uri = Self.absoluteForm(origin: head.uri, host: head.headers.first(name: "host"))
        if let proxyAuthorization {
            head.headers.replaceOrAdd(name: "proxy-authorization", value: proxyAuthorization)
        }
        context.write(Self.wrapOutboundOut(.head(head)), promise: promise)
    }

    /// `http://` + `host` + the origin-form target; a target already absolute, or a head
    /// without `Host` (never built by osp), is left alone.
    static func absoluteForm(origin: String, host: String?) -> String {
        guard let host, origin.hasPrefix("/") else { return origin }
        return "http://" + host + origin
    }
}

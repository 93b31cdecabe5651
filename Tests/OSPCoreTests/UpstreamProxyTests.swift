import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import OSPCore

@Suite("Upstream proxy: URLs, NO_PROXY, absolute-form, CONNECT")
struct UpstreamProxyTests {
    // MARK: ProxyURL

    @Test("proxy URLs parse with and without scheme, port and credentials")
    func proxyURLs() throws {
        #expect(try ProxyURL(parsing: "http://proxy.corp:3128/") == ProxyURL(host: "proxy.corp", port: 3128))
        #expect(try ProxyURL(parsing: "proxy.corp") == ProxyURL(host: "proxy.corp", port: 80))
        #expect(try ProxyURL(parsing: "HTTP://[::1]:8080") == ProxyURL(host: "::1", port: 8080))
        let withCredentials = try ProxyURL(parsing: "http://us%3Aer:pa@ss@127.0.0.1:3128")
        #expect(withCredentials == ProxyURL(host: "127.0.0.1", port: 3128, username: "us:er", password: "pa@ss"))
        // base64("us:er:pa@ss")
        #expect(withCredentials.proxyAuthorization == "Basic dXM6ZXI6cGFAc3M=")
        #expect(withCredentials.urlWithoutCredentials == "http://127.0.0.1:3128")
        #expect(ProxyURL(host: "p", port: 1).proxyAuthorization == nil)
        for bad in ["https://proxy:3128", "socks5://proxy:1080", "http://proxy:0", "http://proxy:x", "http://proxy/path", "http://", "http://:3128"] {
            #expect(throws: ProxyURLError.self) { try ProxyURL(parsing: bad) }
        }
    }

    @Test("a proxy URL's description hides the credentials")
    func redaction() throws {
        let proxy = try ProxyURL(parsing: "http://alice:hunter2@proxy:3128")
        let settings = UpstreamProxySettings(http: proxy, https: proxy)
        for text in ["\(proxy)", String(reflecting: proxy), "\(settings)", String(reflecting: settings)] {
            #expect(!text.contains("hunter2"))
            #expect(!text.contains("alice"))
        }
        #expect("\(proxy)" == "http://<redacted>@proxy:3128")
    }

    // MARK: NO_PROXY

    @Test("NO_PROXY: names match themselves and their subdomains, with or without a leading dot")
    func noProxyNames() {
        let list = NoProxyList(["example.com, .corp.net", "Upper.Example.ORG."])
        #expect(list.matches(host: "example.com"))
        #expect(list.matches(host: "bucket.s3.example.com"))
        #expect(list.matches(host: "EXAMPLE.com."))
        #expect(!list.matches(host: "notexample.com"))
        #expect(!list.matches(host: "example.com.evil"))
        #expect(list.matches(host: "corp.net"))
        #expect(list.matches(host: "a.corp.net"))
        #expect(list.matches(host: "upper.example.org"))
        #expect(!list.matches(host: "example.org"))
    }

    @Test("NO_PROXY: addresses and IPv4 networks match literally; loopback is not implicit")
    func noProxyAddresses() {
        let list = NoProxyList(["10.0.0.0/8", "192.168.1.5", "[::1]", "localhost:9000"])
        #expect(list.matches(host: "10.200.3.4"))
        #expect(!list.matches(host: "11.0.0.1"))
        #expect(list.matches(host: "192.168.1.5"))
        #expect(!list.matches(host: "192.168.1.50"))
        #expect(list.matches(host: "::1"))
        #expect(list.matches(host: "[::1]"))
        #expect(list.matches(host: "localhost"))
        #expect(!list.matches(host: "127.0.0.1"))
        #expect(!NoProxyList(["localhost"]).matches(host: "127.0.0.1"))
        #expect(!NoProxyList([]).matches(host: "127.0.0.1"))
    }

    @Test("NO_PROXY: * bypasses the proxy for every host")
    func noProxyEverything() {
        let settings = UpstreamProxySettings(https: ProxyURL(host: "p", port: 1), noProxy: NoProxyList(["*"]))
        #expect(settings.proxy(forHost: "s3.amazonaws.com", tls: true) == nil)
    }

    @Test("a URL's scheme picks the proxy, its host is checked against NO_PROXY")
    func proxyForURL() {
        let http = ProxyURL(host: "plain-proxy", port: 1)
        let https = ProxyURL(host: "tls-proxy", port: 2)
        let settings = UpstreamProxySettings(http: http, https: https, noProxy: NoProxyList(["opa.internal"]))
        #expect(settings.proxy(forURL: "https://iam.cloud.ibm.com/identity/token") == https)
        #expect(settings.proxy(forURL: "http://user:pw@keys.example:8080/v1?x=1") == http)
        #expect(settings.proxy(forURL: "http://opa.internal:8181/v1/data") == nil)
        #expect(settings.proxy(forURL: "http://[::1]:8181/") == http)
        #expect(UpstreamProxySettings.direct.proxy(forURL: "https://x/") == nil)
    }

    // MARK: Absolute-form

    @Test("behind a proxy, a plain backend request goes out absolute-form with the proxy's credentials")
    func absoluteForm() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ForwardProxyRequestHandler(proxyAuthorization: "Basic eDp5"))
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/bucket/a%20b+c?list-type=2&prefix=x%2Fy")
        head.headers.add(name: "host", value: "backend.corp:9000")
        head.headers.add(name: "authorization", value: "AWS4-HMAC-SHA256 Credential=…")
        try channel.writeOutbound(HTTPClientRequestPart.head(head))
        let written = try #require(try channel.readOutbound(as: HTTPClientRequestPart.self))
        guard case .head(let sent) = written else {
            Issue.record("expected a head")
            return
        }
        #expect(sent.uri == "http://backend.corp:9000/bucket/a%20b+c?list-type=2&prefix=x%2Fy")
        #expect(sent.headers["host"] == ["backend.corp:9000"])
        #expect(sent.headers["proxy-authorization"] == ["Basic eDp5"])
        #expect(sent.headers["authorization"] == head.headers["authorization"])
        #expect(ForwardProxyRequestHandler.absoluteForm(origin: "/", host: "b.s3.corp") == "http://b.s3.corp/")
        _ = try channel.finish()
    }

    // MARK: CONNECT

    @Test("CONNECT: a 2xx answer opens the tunnel; credentials go with the CONNECT")
    func tunnelOpens() throws {
        let channel = EmbeddedChannel()
        let handler = ProxyTunnelHandler(
            host: "backend.corp", port: 443, proxyAuthorization: "Basic eDp5", timeout: .seconds(5), eventLoop: channel.eventLoop
        )
        try channel.pipeline.syncOperations.addHandler(handler)
        var opened = false
        handler.established.assumeIsolated().whenSuccess { opened = true }
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 3128)).wait()
        let head = try #require(try channel.readOutbound(as: HTTPClientRequestPart.self))
        guard case .head(let connect) = head else {
            Issue.record("expected the CONNECT head")
            return
        }
        #expect(connect.method == .CONNECT)
        #expect(connect.uri == "backend.corp:443")
        #expect(connect.headers["host"] == ["backend.corp:443"])
        #expect(connect.headers["proxy-authorization"] == ["Basic eDp5"])
        try channel.writeInbound(HTTPClientResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok)))
        #expect(!opened)
        try channel.writeInbound(HTTPClientResponsePart.end(nil))
        #expect(opened)
        #expect(channel.isActive)
        _ = try channel.finish()
    }

    @Test("CONNECT: a refusal fails the connect with the status and closes the connection")
    func tunnelRefused() throws {
        let channel = EmbeddedChannel()
        let handler = ProxyTunnelHandler(host: "10.0.0.1", port: 443, proxyAuthorization: nil, timeout: .seconds(5), eventLoop: channel.eventLoop)
        try channel.pipeline.syncOperations.addHandler(handler)
        var failure: (any Error)?
        handler.established.assumeIsolated().whenFailure { failure = $0 }
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 3128)).wait()
        _ = try channel.readOutbound(as: HTTPClientRequestPart.self)
        try channel.writeInbound(HTTPClientResponsePart.head(HTTPResponseHead(version: .http1_1, status: .proxyAuthenticationRequired)))
        #expect("\(failure.map { "\($0)" } ?? "")".contains("407"))
        #expect(!channel.isActive)
    }

    @Test("CONNECT: silence past the deadline fails the connect")
    func tunnelTimesOut() throws {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let handler = ProxyTunnelHandler(host: "backend", port: 443, proxyAuthorization: nil, timeout: .seconds(2), eventLoop: loop)
        try channel.pipeline.syncOperations.addHandler(handler)
        var failure: (any Error)?
        handler.established.assumeIsolated().whenFailure { failure = $0 }
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 3128)).wait()
        loop.advanceTime(by: .seconds(3))
        #expect(failure is ProxyTunnelError)
    }

    @Test("CONNECT state machine: a body, or a close before the answer, fails; nothing fails twice")
    func tunnelStateMachine() {
        var machine = ProxyTunnelStateMachine()
        #expect(machine.channelActive() == .sendConnect)
        #expect(machine.channelActive() == .none)
        #expect(machine.receivedHead(HTTPResponseHead(version: .http1_1, status: .ok)) == .none)
        if case .fail = machine.receivedBody() {} else { Issue.record("a body must fail the tunnel") }
        #expect(machine.receivedEnd() == .none)
        #expect(machine.channelInactive() == .none)

        var closed = ProxyTunnelStateMachine()
        _ = closed.channelActive()
        if case .fail = closed.channelInactive() {} else { Issue.record("a close must fail the tunnel") }
    }
}

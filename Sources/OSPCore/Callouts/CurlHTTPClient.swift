import CCurl
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A small blocking HTTP client for osp's callouts (policy decisions, secrets, backend credentials, IAM
/// tokens), built on libcurl and run on a `NIOThreadPool` so no event loop ever waits for a service.
///
/// Each pool thread keeps one easy handle, so kept-alive connections are reused across calls. Every
/// call has a hard deadline that also covers the wait for a free pool thread; redirects are never
/// followed (a redirect is answered as its 3xx status); answers are capped in size. Errors carry a
/// `CalloutError.Kind` and never a header value or a body.
public final class CurlHTTPClient: Sendable {
    public let settings: CalloutSettings
    private let threadPool: NIOThreadPool
    private let handles = ThreadSpecificVariable<CurlEasyHandle>()
    private let handlesCreated = NIOLockedValueBox(0)
    /// Where each call's latency and failure kind are counted, under the backend's name.
    private let metrics: CalloutMetrics?

    /// `threadPool` must be started by the caller; calls made while it is not running fail with a
    /// `transport` error.
    public init(threadPool: NIOThreadPool, settings: CalloutSettings = CalloutSettings(), metrics: CalloutMetrics? = nil) {
        _ = CurlGlobal.initialized
        self.threadPool = threadPool
        self.settings = settings
        self.metrics = metrics
    }

    /// `POST url` with `body`; the caller names the content type in `headers`.
    public func post(
        url: String,
        body: [UInt8],
        headers: [(String, String)] = [],
        timeout: TimeAmount,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<CalloutResponse> {
        execute(CalloutRequest(method: .post, url: url, headers: headers, body: body), timeout: timeout, on: eventLoop)
    }

    /// `GET url`.
    public func get(
        url: String,
        headers: [(String, String)] = [],
        timeout: TimeAmount,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<CalloutResponse> {
        execute(CalloutRequest(method: .get, url: url, headers: headers, body: []), timeout: timeout, on: eventLoop)
    }

    /// `POST url` with an `application/x-www-form-urlencoded` body, as OAuth-style token endpoints
    /// (IBM IAM's api-key exchange) expect.
    public func postForm(
        url: String,
        fields: [(String, String)],
        headers: [(String, String)] = [],
        timeout: TimeAmount,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<CalloutResponse> {
        var allHeaders = headers
        allHeaders.append(("Content-Type", "application/x-www-form-urlencoded"))
        let body = FormEncoding.encode(fields)
        return post(url: url, body: body, headers: allHeaders, timeout: timeout, on: eventLoop)
    }

    /// How many easy handles this client has created (one per pool thread that served a call).
    var easyHandleCount: Int { handlesCreated.withLockedValue { $0 } }

    private func execute(
        _ request: CalloutRequest,
        timeout: TimeAmount,
        on eventLoop: any EventLoop
    ) -> EventLoopFuture<CalloutResponse> {
        do throws(CalloutError) {
            try Self.validate(request)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        guard CurlGlobal.initialized else {
            return eventLoop.makeFailedFuture(CalloutError(.transport, "libcurl could not be initialised"))
        }
        let started = NIODeadline.now()
        let deadline = started + timeout
        let settings = self.settings
        let answer = threadPool.runIfActive(eventLoop: eventLoop) { () throws -> CalloutResponse in
            // The deadline also covers the time spent waiting for a free pool thread.
            let remaining = deadline - NIODeadline.now()
            let milliseconds = Int(remaining.nanoseconds / 1_000_000)
            guard milliseconds > 0 else {
                throw CalloutError(.timeout, "deadline passed while waiting for a callout thread")
            }
            return try self.handleForCurrentThread().perform(request, settings: settings, timeoutMilliseconds: milliseconds)
        }.flatMapErrorThrowing { error in
            if error is CalloutError { throw error }
            if error is NIOThreadPoolError.ThreadPoolInactive {
                throw CalloutError(.transport, "the callout thread pool is not running")
            }
            throw CalloutError(.transport, "\(type(of: error))")
        }
        if let metrics = self.metrics {
            answer.whenComplete { result in
                metrics.record(nanoseconds: (NIODeadline.now() - started).nanoseconds)
                switch result {
                case .success(let response) where response.status >= 500:
                    metrics.failed(kind: "status_5xx")
                case .success:
                    break
                case .failure(let error):
                    metrics.failed(kind: (error as? CalloutError)?.kind.metricLabel ?? "transport")
                }
            }
        }
        return answer
    }

    private func handleForCurrentThread() throws(CalloutError) -> CurlEasyHandle {
        if let handle = handles.currentValue {
            return handle
        }
        guard let handle = CurlEasyHandle() else {
            throw CalloutError(.transport, "curl_easy_init failed")
        }
        handles.currentValue = handle
        handlesCreated.withLockedValue { $0 += 1 }
        return handle
    }

    /// Refuses what must not reach libcurl: other schemes, and header names or values that could
    /// split the request (CR, LF, NUL). Messages name the header, never its value.
    static func validate(_ request: CalloutRequest) throws(CalloutError) {
        let lowercasedURL = request.url.lowercased()
        guard lowercasedURL.hasPrefix("http://") || lowercasedURL.hasPrefix("https://") else {
            throw CalloutError(.invalidRequest, "only http:// and https:// URLs are allowed")
        }
        guard !request.url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw CalloutError(.invalidRequest, "the URL contains spaces or control characters")
        }
        for (name, value) in request.headers {
            guard HTTPToken.isValid(name) else {
                throw CalloutError(.invalidRequest, "invalid header name")
            }
            guard !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) else {
                throw CalloutError(.invalidRequest, "header '\(name)' has a value with CR, LF or NUL")
            }
        }
    }
}

/// libcurl's process-wide initialisation, done once (Swift runs a static initialiser exactly once).
private enum CurlGlobal {
    static let initialized: Bool = osp_curl_global_init_default() == CURLE_OK
}

/// `application/x-www-form-urlencoded`: every byte but the unreserved ones percent-encoded.
enum FormEncoding {
    static func encode(_ fields: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        for (index, (name, value)) in fields.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "&")) }
            append(name, to: &out)
            out.append(UInt8(ascii: "="))
            append(value, to: &out)
        }
        return out
    }

    private static func append(_ text: String, to out: inout [UInt8]) {
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
    }
}

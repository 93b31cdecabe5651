import CCurl

/// One request as the callout client sends it; built on the caller's thread, performed on a pool thread.
struct CalloutRequest: Sendable {
    enum Method: String, Sendable {
        case get = "GET"
        case post = "POST"
    }

    var method: Method
    var url: String
    var headers: [(String, String)]
    var body: [UInt8]
}

/// A libcurl easy handle owned by one thread-pool thread for that thread's lifetime. Keeping it (rather
/// than one per request) keeps its connection cache, so repeated callouts to one service reuse a
/// kept-alive connection and skip the TCP and TLS handshakes.
///
/// `@unchecked Sendable`: it is only ever touched by the thread that created it (it lives in a
/// thread-specific slot); the conformance only lets that slot be stored in a `Sendable` client.
final class CurlEasyHandle: @unchecked Sendable {
    private let handle: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let errorBufferSize: Int

    init?() {
        guard let handle = curl_easy_init() else { return nil }
        self.handle = handle
        self.errorBufferSize = max(Int(osp_curl_error_size()), 256)
        self.errorBuffer = .allocate(capacity: errorBufferSize)
        self.errorBuffer.initialize(repeating: 0, count: errorBufferSize)
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// Sends `request` and waits for the whole answer, for at most `timeoutMilliseconds`.
    func perform(
        _ request: CalloutRequest,
        settings: CalloutSettings,
        timeoutMilliseconds: Int
    ) throws(CalloutError) -> CalloutResponse {
        // Every request starts from default options; reset keeps the connection and DNS caches.
        curl_easy_reset(handle)
        errorBuffer[0] = 0

        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        for (name, value) in request.headers {
            guard let appended = curl_slist_append(headerList, "\(name): \(value)") else {
                throw CalloutError(.transport, "out of memory building request headers")
            }
            headerList = appended
        }
        // No `Expect: 100-continue` round trip for request bodies.
        guard let withExpect = curl_slist_append(headerList, "Expect:") else {
            throw CalloutError(.transport, "out of memory building request headers")
        }
        headerList = withExpect

        let connectMilliseconds = min(
            timeoutMilliseconds,
            max(1, Int(settings.connectTimeout.nanoseconds / 1_000_000))
        )
        try check(osp_curl_setopt_string(handle, CURLOPT_URL, request.url), "URL")
        try check(osp_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"), "protocols")
        try check(osp_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1), "nosignal")
        try check(osp_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0), "redirects")
        try check(osp_curl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMilliseconds), "timeout")
        try check(osp_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, connectMilliseconds), "connect timeout")
        try check(osp_curl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1), "keepalive")
        try check(osp_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, settings.verifyTLS ? 1 : 0), "TLS verify")
        try check(osp_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, settings.verifyTLS ? 2 : 0), "TLS verify")
        if let caFile = settings.caFile {
            try check(osp_curl_setopt_string(handle, CURLOPT_CAINFO, caFile), "CA file")
        }
        try check(osp_curl_setopt_string(handle, CURLOPT_USERAGENT, settings.userAgent), "user agent")
        // An empty proxy string makes libcurl connect directly and ignore the proxy environment variables.
        // An https URL goes through an HTTP proxy in a CONNECT tunnel, an http URL as an absolute-form request.
        let proxy = settings.proxy.proxy(forURL: request.url)
        try check(osp_curl_setopt_string(handle, CURLOPT_PROXY, proxy?.urlWithoutCredentials ?? ""), "proxy")
        if let proxy, let username = proxy.username {
            try check(osp_curl_setopt_string(handle, CURLOPT_PROXYUSERNAME, username), "proxy user")
            try check(osp_curl_setopt_string(handle, CURLOPT_PROXYPASSWORD, proxy.password ?? ""), "proxy password")
        }
        try check(osp_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList), "headers")
        try check(osp_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, UnsafeMutableRawPointer(errorBuffer)), "error buffer")

        switch request.method {
        case .get:
            try check(osp_curl_setopt_long(handle, CURLOPT_HTTPGET, 1), "GET")
        case .post:
            try check(osp_curl_setopt_long(handle, CURLOPT_POST, 1), "POST")
            try check(osp_curl_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)), "body size")
            // COPYPOSTFIELDS: libcurl keeps its own copy, so no Swift buffer has to outlive this call.
            let code = request.body.withUnsafeBytes { bytes in
                if let base = bytes.baseAddress {
                    return osp_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: base))
                }
                return osp_curl_setopt_string(handle, CURLOPT_COPYPOSTFIELDS, "")
            }
            try check(code, "body")
        }

        let sink = ResponseSink(limit: settings.maxResponseBytes)
        let code: CURLcode = withExtendedLifetime(sink) {
            _ = osp_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, Unmanaged.passUnretained(sink).toOpaque())
            _ = osp_curl_setopt_write_callback(handle) { data, size, count, context in
                let total = size * count
                guard total > 0 else { return 0 }
                guard let data, let context else { return 0 }
                let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
                // Anything but `total` makes libcurl abort the transfer with CURLE_WRITE_ERROR.
                return sink.append(UnsafeRawBufferPointer(start: data, count: total)) ? total : 0
            }
            return curl_easy_perform(handle)
        }

        guard code == CURLE_OK else {
            if code == CURLE_WRITE_ERROR, sink.exceeded {
                throw CalloutError(.responseTooLarge, "answer larger than \(settings.maxResponseBytes) bytes")
            }
            if code == CURLE_OPERATION_TIMEDOUT {
                throw CalloutError(.timeout, "no complete answer within \(timeoutMilliseconds) ms (\(reason(for: code)))")
            }
            throw CalloutError(.transport, reason(for: code))
        }
        var status = 0
        _ = osp_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var newConnections = 0
        _ = osp_curl_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &newConnections)
        return CalloutResponse(status: status, body: sink.bytes, reusedConnection: newConnections == 0)
    }

    private func check(_ code: CURLcode, _ what: String) throws(CalloutError) {
        guard code == CURLE_OK else {
            throw CalloutError(.invalidRequest, "libcurl refused the \(what) option: \(reason(for: code))")
        }
    }

    /// libcurl's own message (host, port, TLS reason), or the generic text for `code`. Neither holds
    /// request headers or bodies.
    private func reason(for code: CURLcode) -> String {
        errorBuffer[errorBufferSize - 1] = 0
        if errorBuffer[0] != 0 {
            return String(cString: errorBuffer)
        }
        return String(cString: curl_easy_strerror(code))
    }
}

/// Collects an answer's bytes up to a limit, so a misbehaving service cannot make osp buffer without bound.
private final class ResponseSink {
    let limit: Int
    var bytes: [UInt8] = []
    var exceeded = false

    init(limit: Int) {
        self.limit = limit
    }

    func append(_ chunk: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count + chunk.count <= limit else {
            exceeded = true
            return false
        }
        bytes.append(contentsOf: chunk)
        return true
    }
}

import Logging
import NIOCore
import NIOHTTP1
import S3Signing

/// Serves the S3 requests of one client connection, one at a time: authenticate, route to the
/// backend, re-sign, and stream the bytes both ways with backpressure.
///
/// A pipelined request (sent before the previous response ended) waits in `pipelined`, and reads
/// stop while it waits, so a client cannot make osp buffer more than one read of requests. This
/// replaces NIO's `HTTPServerPipelineHandler`, which withholds every `read()` from the end of each
/// request to the end of its response: that costs two `epoll_ctl` calls per request on every
/// keep-alive connection, while real clients (botocore, the aws cli, SDKs) never pipeline.
///
/// The request lifecycle is an explicit state machine (`State`):
///
///     idle ──head──▶ authenticating ──signature ok, policy allows──▶ connecting ──connected──▶ forwarding ──both ends──▶ idle
///                        │                          │                         │
///                        └───────── refused ────────┴──── backend failed ─────┴──▶ answered / closed
///
/// Nothing reaches the backend, and no `100 Continue` reaches the client, before the request is
/// authenticated and every policy answer is allow. Until then the body is not read: reads are held, so at most the bytes that came
/// with the head are buffered.
final class S3ProxyHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        /// Waiting for the next request head.
        case idle
        /// The head is in; its signature and the policy's answer are being decided. Body held.
        case authenticating
        /// Authenticated DeleteObjects or RestoreObject: reading its (bounded) body, which says
        /// what is asked (`DecisionBody`), before anything is decided or forwarded.
        case collectingBody
        /// A browser form upload (POST Object): reading its fields up to the file (bounded), which
        /// hold the credentials; nothing is decided or forwarded before they are all in.
        case collectingForm
        /// Allowed; waiting for a backend connection. Body held.
        case connecting
        /// Streaming the request body to the backend and its response back.
        case forwarding
        /// Copying between buckets on two backends (`CrossBackendCopy`); the request has no body.
        case copying
        /// osp answered the request itself (an error, or ListBuckets) and discards the rest of its body.
        case answered
        /// The client connection is gone or going.
        case closed
    }

    /// Where each request head picks up the gateway it is served with (a reload swaps it).
    private let current: CurrentGateway
    /// The gateway generation of the request in flight (or of the last one): a request keeps
    /// the config it started with, however long it streams.
    private var generation: GatewayGeneration
    private var gateway: Gateway { self.generation.gateway }
    private let pool: UpstreamConnectionPool
    private let transport: ClientTransport
    /// The verified client certificate of this connection (HTTPS with `client_ca_file`).
    private var clientCertificate: ClientCertificateIdentity
    private var requestIDs = RequestIDGenerator()
    private var context: ChannelHandlerContext?
    private var state: State = .idle
    private var exchange: Exchange?
    private var readPending = false
    /// Parts of requests that arrived while an earlier one was still being served, in order.
    private var pipelined = CircularBuffer<HTTPServerRequestPart>()
    /// `deliverPipelined` is on the stack (a delivered request may finish at once and ask again).
    private var deliveringPipelined = false
    /// The client's address as text, formatted once per connection (policy input, access log).
    private var clientIP: String??
    /// The last allow a remote engine's decision cache gave this connection, and the buffer the
    /// keys of its decision-cache lookups are written into (`Authorizer.cachedVerdict`).
    private var rememberedAllow = RememberedAllow()
    /// Whether this connection is counted in `osp_open_connections` (so it is uncounted exactly once).
    private var countedAsOpen = false
    /// The server is shutting down: this connection closes after the response in flight.
    private var draining = false
    /// The client will send nothing more (it shut down its side, or closed — the two look alike
    /// until a write fails): what it sent completely is answered, then the connection closes.
    private var clientInputClosed = false

    init(current: CurrentGateway, pool: UpstreamConnectionPool, transport: ClientTransport = .plain) {
        self.current = current
        self.generation = current.generation
        self.pool = pool
        self.transport = transport
        self.clientCertificate = transport.initialCertificate
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { self.countOpen() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.uncountOpen()
    }

    func channelActive(context: ChannelHandlerContext) {
        self.countOpen()
        context.fireChannelActive()
    }

    private func countOpen() {
        guard !self.countedAsOpen else { return }
        self.countedAsOpen = true
        self.gateway.metrics.connectionOpened()
    }

    private func uncountOpen() {
        guard self.countedAsOpen else { return }
        self.countedAsOpen = false
        self.gateway.metrics.connectionClosed()
    }

    // MARK: - Backpressure on the client

    private var shouldHoldReads: Bool {
        if !self.pipelined.isEmpty { return true }
        switch self.state {
        case .idle, .answered, .collectingBody, .collectingForm:
            return false
        case .authenticating, .connecting, .copying, .closed:
            return true
        case .forwarding:
            guard let upstream = self.exchange?.upstream else { return true }
            return !upstream.channel.isWritable
        }
    }

    func read(context: ChannelHandlerContext) {
        if self.shouldHoldReads {
            self.readPending = true
        } else {
            context.read()
        }
    }

    private func resumeClientReads() {
        guard self.readPending, !self.shouldHoldReads, let context = self.context else { return }
        self.readPending = false
        context.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.exchange?.upstream?.handler.resumeReads()
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: - Client events

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = Self.unwrapInboundIn(data)
        if !self.pipelined.isEmpty || (part.isHead && self.state != .idle) {
            // The next request, while this one is still being served: it waits its turn.
            if self.state != .closed { self.pipelined.append(part) }
            return
        }
        self.deliver(part, context: context)
    }

    private func deliver(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            self.receivedHead(head, context: context)
        case .body(let buffer):
            self.receivedBody(buffer)
        case .end:
            self.receivedEnd()
        }
    }

    /// Serves waiting pipelined requests in order: a head once the connection is idle, the parts
    /// after it to the exchange it started.
    private func deliverPipelined() {
        guard !self.deliveringPipelined, let context = self.context else { return }
        self.deliveringPipelined = true
        defer { self.deliveringPipelined = false }
        while let next = self.pipelined.first, self.state != .closed, self.state == .idle || !next.isHead {
            self.pipelined.removeFirst()
            self.deliver(next, context: context)
        }
        if self.state == .closed { self.pipelined.removeAll() }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.state == .forwarding {
            self.exchange?.upstream?.channel.flush()
        }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.state = .closed
        self.uncountOpen()
        if let exchange = self.exchange {
            // Ended under the request: it still gets its line and its count.
            self.record(exchange)
            // The client went away mid-request: the backend must not see a complete request,
            // and the connection cannot be reused.
            exchange.upstream?.discard()
            exchange.upstream = nil
            exchange.copy?.cancel()
            exchange.copyKeepAlive?.cancel()
        }
        self.exchange = nil
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is DrainConnectionEvent {
            self.draining = true
            if self.state == .idle {
                // Between requests: nothing to finish but sending the last response's tail.
                self.state = .closed
                self.closeAfterResponseWritten(context)
            }
            return
        }
        if case ChannelEvent.inputClosed = event {
            self.inputClosed(context)
            return
        }
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            // Idle between requests, or a client that stopped sending its body while we wanted it.
            let stalledBody = (self.state == .forwarding || self.state == .collectingBody || self.state == .collectingForm)
                && !(self.exchange?.requestEnded ?? true) && !self.shouldHoldReads
            // `.closed`: a client that stopped reading the tail of its last response.
            if self.state == .idle || self.state == .closed || stalledBody {
                context.close(promise: nil)
            }
            return
        }
        if let certificate = event as? ClientCertificateEvent {
            // Only the first word counts: the certificate of a connection does not change.
            if self.clientCertificate == .pending { self.clientCertificate = certificate.identity }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// The client shut down its sending side (`shutdown(SHUT_WR)`, HTTP/1.0 style), or closed the
    /// connection. Requests it sent completely are still answered, as a client that half-closes
    /// waits for them (and a complete request may already be at the backend); a request cut off
    /// mid-way was refused by the decoder already, and nothing of it completes at the backend.
    private func inputClosed(_ context: ChannelHandlerContext) {
        self.clientInputClosed = true
        switch self.state {
        case .closed:
            return
        case .idle:
            if self.pipelined.isEmpty {
                // Between requests: nothing more will come.
                self.state = .closed
                self.closeAfterResponseWritten(context)
            }
        case .authenticating, .connecting, .forwarding, .copying, .collectingBody, .collectingForm, .answered:
            guard let exchange = self.exchange, !exchange.requestEnded else {
                // Complete: its response still goes out, then the connection closes.
                return
            }
            exchange.upstream?.discard()
            exchange.upstream = nil
            exchange.copy?.cancel()
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parserError = error as? HTTPParserError {
            self.refuseMalformedRequest(parserError, context: context)
            return
        }
        self.gateway.logger.debug("client connection error", metadata: ["error": "\(type(of: error))"])
        context.close(promise: nil)
    }

    /// The HTTP parser rejected what the client sent (it reads nothing more from this connection):
    /// the request it was parsing gets an S3 error and the connection closes after it. When that
    /// answer cannot be told apart from another response — one is already under way, or the bad
    /// bytes belong to a pipelined request — the connection closes without it (after the response
    /// of the request before, when that one was well-formed).
    private func refuseMalformedRequest(_ error: HTTPParserError, context: ChannelHandlerContext) {
        let refusal = S3Error(malformedRequest: error)
        guard self.pipelined.isEmpty, self.state != .closed else {
            context.close(promise: nil)
            return
        }
        if let exchange = self.exchange {
            if exchange.requestEnded && self.state != .answered {
                // The bad bytes are a later request's: this one's response completes, then the connection closes.
                exchange.mustCloseClient = true
                return
            }
            guard !exchange.responseStarted else {
                context.close(promise: nil)
                return
            }
            // Its body cannot be trusted: nothing of it may reach the backend as a complete request.
            exchange.mustCloseClient = true
            self.refuse(refusal)
            return
        }
        let rendered = S3ErrorResponse.render(
            refusal, resource: "", requestID: self.requestIDs.next(), allocator: context.channel.allocator, keepAlive: false
        )
        self.state = .closed
        context.write(Self.wrapOutboundOut(.head(rendered.head)), promise: nil)
        if let body = rendered.body {
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        self.writeResponseEnd(context)
        self.closeAfterResponseWritten(context)
    }

    private func receivedHead(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard self.state == .idle else {
            context.close(promise: nil)
            return
        }
        self.generation = self.current.generation
        let exchange = Exchange(requestID: self.requestIDs.next(), head: head)
        self.exchange = exchange
        if self.gateway.accessLog.isEnabled {
            exchange.time = LogTimestamp.now()
        }
        self.state = .authenticating

        let route: S3Route
        do {
            route = try self.gateway.router.route(
                method: head.method.rawValue,
                rawPath: exchange.target.rawPath,
                rawQuery: exchange.target.rawQuery,
                host: try S3RequestRouter.host(of: head.headers),
                headers: head.headers
            )
        } catch {
            self.startTrace(exchange, route: nil)
            self.refuse(error)
            return
        }
        exchange.route = route
        self.startTrace(exchange, route: route)
        if head.method == .OPTIONS {
            let preflight = CORSPreflight(
                operation: route.operation,
                bucket: route.bucket,
                head: head,
                rawQuery: exchange.target.rawQuery,
                handling: self.gateway.config.server.corsPreflight
            )
            switch preflight {
            case .notPreflight:
                break
            case .refused(let error):
                self.refuse(error)
                return
            case .preflight(let headers):
                self.forwardPreflight(headers, exchange: exchange)
                return
            }
        }
        exchange.trace?.begin(.authenticate)
        // A browser form upload: no credentials in the head, they are form fields.
        if head.method == .POST, route.operation.name == "PostObject", let contentType = head.headers.first(name: "content-type"),
            contentType.hasLowercaseASCIIPrefix("multipart/form-data"),
            case .anonymous? = try? ClientAuthentication.parse(headers: head.headers, rawQuery: exchange.target.rawQuery)
        {
            self.collectForm(contentType: contentType, exchange: exchange, context: context)
            return
        }

        let request = IncomingRequest(
            method: head.method.rawValue,
            rawPath: exchange.target.rawPath,
            rawQuery: exchange.target.rawQuery,
            headers: head.headers
        )
        let sigV2Resource = Self.sigV2Resource(route: route, rawPath: exchange.target.rawPath)
        let authenticator = self.gateway.authenticator
        let now = AmzDate.now()
        // The keystore (or a warm secret cache) usually knows the key: then no future is made.
        let progress = authenticator.authenticateNow(request, sigV2ResourcePath: sigV2Resource, now: now)
        if case .done(let result) = progress {
            self.authenticationFinished(result, exchange: exchange)
            return
        }
        authenticator.complete(
            progress,
            request,
            sigV2ResourcePath: sigV2Resource,
            now: now,
            on: context.eventLoop
        ).assumeIsolated().whenComplete { result in
            guard self.exchange === exchange, self.state == .authenticating else { return }
            self.authenticationFinished(result, exchange: exchange)
        }
    }

    /// A CORS preflight, with `server.cors_preflight: forward`: nobody to authenticate and nothing
    /// for the policy to decide (it reads only the bucket's CORS rules), so it goes straight to the
    /// backend with its own headers, signed with the bucket's key. Credential sources are asked
    /// for the empty principal, which no per-principal rule names.
    private func forwardPreflight(_ headers: HTTPHeaders, exchange: Exchange) {
        exchange.decisionReason = "cors preflight"
        exchange.forwardedHeaders = headers
        let preflight = AuthenticatedRequest(
            identity: ClientIdentity(accessKey: "", secretKey: "", principal: ""),
            authentication: .anonymous,
            payloadMode: .signed(sha256Hex: emptyBodySHA256),
            clientChunkSigning: nil
        )
        exchange.authenticated = preflight
        self.authorized(preflight, exchange: exchange)
    }

    private func authenticationFinished(_ result: Result<AuthenticatedRequest, any Error>, exchange: Exchange) {
        switch result {
        case .success(let authenticated):
            exchange.trace?.end()
            self.authenticated(authenticated, exchange: exchange)
        case .failure(let error):
            let reason = (error as? S3Error)?.code.rawValue ?? "InternalError"
            exchange.trace?.end(error: reason)
            self.gateway.metrics.authenticationFailed(reason: reason)
            self.refuse(error)
        }
    }

    /// The request's span, when a tracer is installed (otherwise nothing is built).
    private func startTrace(_ exchange: Exchange, route: S3Route?) {
        guard let tracer = self.gateway.tracer else { return }
        exchange.trace = RequestTrace(tracer: tracer, head: exchange.head, route: route, requestID: exchange.requestID)
    }

    /// The resource SigV2 signs: always the path-style `/bucket/key`, and `/bucket/` for a
    /// request on the bucket itself, however the client addressed it.
    static func sigV2Resource(route: S3Route, rawPath: String) -> String {
        guard let bucket = route.bucket else { return "/" }
        if route.key == nil { return "/" + bucket + "/" }
        switch route.addressing {
        case .virtualHost: return "/" + bucket + rawPath
        case .path: return rawPath
        }
    }

    private func receivedBody(_ buffer: ByteBuffer) {
        guard let exchange = self.exchange else { return }
        exchange.bytesIn += buffer.readableBytes
        switch self.state {
        case .authenticating, .connecting, .copying:
            exchange.pendingBody.append(buffer)
        case .collectingBody:
            exchange.pendingBody.append(buffer)
            exchange.pendingBodyBytes += buffer.readableBytes
            if let kind = exchange.decisionBody, exchange.pendingBodyBytes > kind.maximumBytes {
                self.refuse(kind.tooLarge)
            }
        case .collectingForm:
            self.readForm(buffer, exchange: exchange)
        case .forwarding:
            self.forwardBody(buffer, exchange: exchange)
        case .idle, .answered, .closed:
            break
        }
    }

    private func receivedEnd() {
        guard let exchange = self.exchange else { return }
        exchange.requestEnded = true
        switch self.state {
        case .authenticating, .connecting, .copying:
            break
        case .collectingBody:
            self.decisionBodyCollected(exchange)
        case .collectingForm:
            self.refuse(PostObjectFormReader.noFile)
        case .forwarding:
            self.finishRequestBody(exchange)
        case .answered:
            self.finishExchange()
        case .idle, .closed:
            break
        }
    }

    // MARK: - Pipeline stages

    private func authenticated(_ authenticated: AuthenticatedRequest, exchange: Exchange) {
        guard let route = exchange.route, let context = self.context else { return }
        exchange.principal = authenticated.identity.principal
        exchange.authenticated = authenticated
        switch self.clientCertificate.bind(principal: authenticated.identity.principal) {
        case .success(let certificatePrincipal):
            exchange.certificatePrincipal = certificatePrincipal
        case .failure(let refusal):
            // For the access log: why, without asking policy (this is not a policy decision).
            exchange.decisionReason = "client certificate binding"
            self.refuse(refusal)
            return
        }
        let allowsEverything = self.gateway.authorizer.allowsEverything
        // allow-all reads only bodies that name destination buckets, and no object request has one:
        // on its hot path the operation's name is not even read.
        let decisionBody = allowsEverything && route.key != nil ? nil : DecisionBody(operation: route.operation.name)
        if allowsEverything, !(decisionBody?.namesDestinations ?? false) {
            // allow-all: no question to ask, so none is built (this is the per-request hot path).
            self.decidedAtOnce(.allow, answeredBy: "local", authenticated, exchange: exchange)
            return
        }
        if let decisionBody {
            self.collectDecisionBody(decisionBody, authenticated, exchange: exchange)
            return
        }
        self.decide(authenticated, route: route, exchange: exchange, context: context)
    }

    /// Asks the policy about an authenticated request: in memory (rules), from the decision cache,
    /// or by a callout (`authorize`).
    private func decide(_ authenticated: AuthenticatedRequest, route: S3Route, exchange: Exchange, context: ChannelHandlerContext) {
        let authorizer = self.gateway.authorizer
        if let verdict = authorizer.localVerdict(route: route, identity: authenticated.identity, head: exchange.head, target: exchange.target) {
            // rules: one question, decided in memory.
            self.decidedAtOnce(verdict, answeredBy: "local", authenticated, exchange: exchange)
            return
        }
        let view = self.policyView(authenticated, route: route, exchange: exchange, context: context)
        if let verdict = authorizer.cachedVerdict(view, connection: &self.rememberedAllow) {
            // A remote engine's answer from the decision cache, found without building the question.
            self.decidedAtOnce(verdict, answeredBy: "cache", authenticated, exchange: exchange)
            return
        }
        self.authorize(authorizer.questions(view), authenticated, exchange: exchange)
    }

    /// A verdict reached without a callout (allow-all, in-memory rules, the decision cache): the
    /// authorize stage is traced with where the answer came from, then the verdict carried out.
    private func decidedAtOnce(
        _ verdict: AuthorizationVerdict,
        answeredBy source: String,
        _ authenticated: AuthenticatedRequest,
        exchange: Exchange
    ) {
        if exchange.trace != nil {
            exchange.trace!.begin(.authorize)
            exchange.trace!.annotate(policy: self.gateway.authorizer.engine.name, answeredBy: source)
        }
        self.decided(verdict, authenticated, exchange: exchange)
    }

    /// What the policy may see of this request: one value for the cached-verdict lookup and the
    /// questions, so both read the same parts.
    private func policyView(_ authenticated: AuthenticatedRequest, route: S3Route, exchange: Exchange, context: ChannelHandlerContext) -> PolicyView {
        self.gateway.authorizer.view(
            route: route,
            identity: authenticated.identity,
            head: exchange.head,
            target: exchange.target,
            authentication: authenticated.authentication,
            sourceIP: self.sourceIP(context),
            secureTransport: self.transport.secure,
            tlsClientPrincipal: exchange.certificatePrincipal,
            forwardedQuery: exchange.forwardedQuery(authenticated.authentication)
        )
    }

    private func sourceIP(_ context: ChannelHandlerContext) -> String? {
        if let known = self.clientIP { return known }
        let address = context.channel.remoteAddress?.ipAddress
        self.clientIP = .some(address)
        return address
    }

    private func authorize(_ questions: [AuthorizationRequest], _ authenticated: AuthenticatedRequest, exchange: Exchange) {
        guard let context = self.context else { return }
        if let verdict = self.gateway.authorizer.authorizeNow(questions) {
            let source = self.gateway.authorizer.inMemory == nil ? "cache" : "local"
            self.decidedAtOnce(verdict, answeredBy: source, authenticated, exchange: exchange)
            return
        }
        exchange.trace?.begin(.authorize)
        exchange.trace?.annotate(policy: self.gateway.authorizer.engine.name, answeredBy: "callout")
        let trace = exchange.trace?.calloutHeaders() ?? .none
        self.gateway.authorizer.authorize(questions, trace: trace, on: context.eventLoop).assumeIsolated().whenComplete { result in
            guard self.exchange === exchange, self.state == .authenticating else { return }
            switch result {
            case .success(let verdict):
                self.decided(verdict, authenticated, exchange: exchange)
            case .failure(let error):
                self.decided(.unavailable(reason: AuthorizationVerdict.reason(for: error)), authenticated, exchange: exchange)
            }
        }
    }

    /// The policy's verdict is in: counted, remembered for the access log, then carried out.
    private func decided(_ verdict: AuthorizationVerdict, _ authenticated: AuthenticatedRequest, exchange: Exchange) {
        exchange.trace?.annotate { $0["osp.policy.decision"] = verdict.label }
        if case .unavailable = verdict {
            exchange.trace?.end(error: "policy unavailable")
        } else {
            exchange.trace?.end()
        }
        switch verdict {
        case .allow:
            exchange.decision = .allow
            self.gateway.decisions.allow.increment()
            self.authorized(authenticated, exchange: exchange)
        case .deny(let reason):
            exchange.decision = .deny
            exchange.decisionReason = reason
            self.gateway.decisions.deny.increment()
            self.refuse(verdict.refusal!)
        case .unavailable(let reason):
            exchange.decision = .deny
            exchange.decisionReason = reason
            self.gateway.decisions.error.increment()
            self.refuse(verdict.refusal!)
        }
    }

    /// A body that says what is asked (`DecisionBody`): read it (bounded; `100 Continue` is sent
    /// for it, as the body is needed to decide and is not forwarded before the decision).
    private func collectDecisionBody(_ kind: DecisionBody, _ authenticated: AuthenticatedRequest, exchange: Exchange) {
        guard let context = self.context else { return }
        if authenticated.payloadMode.isStreaming {
            self.refuse(S3Error(.invalidRequest, "\(kind.operation) with an aws-chunked body is not supported."))
            return
        }
        if let length = exchange.declaredLength, length > kind.maximumBytes {
            self.refuse(kind.tooLarge)
            return
        }
        self.state = .collectingBody
        exchange.decisionBody = kind
        exchange.pendingBodyBytes = exchange.pendingBody.reduce(0) { $0 + $1.readableBytes }
        if exchange.expectsContinue && !exchange.sentContinue && !exchange.requestEnded {
            exchange.sentContinue = true
            context.writeAndFlush(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
        }
        if exchange.requestEnded {
            self.decisionBodyCollected(exchange)
        } else {
            self.resumeClientReads()
        }
    }

    /// The body is in. It is judged, so it must be the one that was signed; then it is read:
    /// DeleteObjects' keys are each authorized (`authorizeDeletes`), a plain RestoreObject is decided
    /// as any request, a SELECT restore refused (`RestoreObjectRequest`), a configuration's
    /// destination buckets checked and authorized (`BucketDestinations`, `authorizeDestinations`).
    private func decisionBodyCollected(_ exchange: Exchange) {
        guard let context = self.context, let route = exchange.route, let authenticated = exchange.authenticated,
            let kind = exchange.decisionBody
        else { return }
        var body: [UInt8] = []
        body.reserveCapacity(exchange.pendingBodyBytes)
        for buffer in exchange.pendingBody { body.append(contentsOf: buffer.readableBytesView) }
        var deletes: DeleteObjectsRequest?
        var destinations: BucketDestinations?
        do {
            if case .signed(let sha256Hex) = authenticated.payloadMode {
                var check = PayloadHashCheck(sha256Hex: sha256Hex, declaredLength: nil)
                try check.consume(ByteBuffer(bytes: body))
                try check.finish()
            }
            switch kind {
            case .deleteObjects: deletes = try DeleteObjectsRequest(xml: body)
            case .restoreObject: _ = try RestoreObjectRequest(xml: body)
            case .bucketLogging, .bucketReplication, .bucketInventory, .bucketAnalytics:
                let buckets = self.gateway.config.buckets
                guard let clientBucket = route.bucket, let source = buckets.route(for: clientBucket) else {
                    throw S3Error(.noSuchBucket, "The specified bucket does not exist")
                }
                let read = try BucketDestinations(xml: body, kind: kind)
                try read.check(against: buckets, source: source)
                destinations = read
            }
        } catch {
            self.refuse(error)
            return
        }
        self.state = .authenticating
        if let deletes {
            self.authorizeDeletes(deletes, authenticated, route: route, exchange: exchange, context: context)
        } else if let destinations, !destinations.destinations.isEmpty {
            self.authorizeDestinations(destinations, authenticated, route: route, exchange: exchange, context: context)
        } else {
            self.decide(authenticated, route: route, exchange: exchange, context: context)
        }
    }

    /// Every key of a DeleteObjects body is authorized (`s3:DeleteObject`, or
    /// `s3:DeleteObjectVersion` with a version id); one denied key refuses the whole request, so
    /// nothing the principal may not delete is deleted.
    private func authorizeDeletes(
        _ request: DeleteObjectsRequest,
        _ authenticated: AuthenticatedRequest,
        route: S3Route,
        exchange: Exchange,
        context: ChannelHandlerContext
    ) {
        let view = self.policyView(authenticated, route: route, exchange: exchange, context: context)
        guard let base = self.gateway.authorizer.questions(view).first else { return }
        // Each key is a delete of its own; one that bypasses governance retention asks for that too.
        let bypasses = route.alsoSets.contains(.governanceBypass)
        var questions: [AuthorizationRequest] = []
        questions.reserveCapacity(request.objects.count * (bypasses ? 2 : 1))
        for object in request.objects {
            var question = base
            question.action = object.versionId == nil ? "s3:DeleteObject" : "s3:DeleteObjectVersion"
            question.key = object.key
            if let version = object.versionId { question.conditions["versionid"] = version }
            questions.append(question)
            if bypasses {
                question.action = "s3:BypassGovernanceRetention"
                questions.append(question)
            }
        }
        self.authorize(questions, authenticated, exchange: exchange)
    }

    /// A configuration that has the backend write into other buckets asks, besides its own action,
    /// `s3:PutObject` on each destination under the prefix written to; any deny refuses it whole.
    private func authorizeDestinations(
        _ destinations: BucketDestinations,
        _ authenticated: AuthenticatedRequest,
        route: S3Route,
        exchange: Exchange,
        context: ChannelHandlerContext
    ) {
        let view = self.policyView(authenticated, route: route, exchange: exchange, context: context)
        let questions = self.gateway.authorizer.questions(view)
        guard let base = questions.first else { return }
        self.authorize(questions + destinations.destinationQuestions(from: base), authenticated, exchange: exchange)
    }

    // MARK: - Browser form uploads (POST Object)

    /// A browser form upload carries its credentials in the body: its fields, up to the file, are
    /// read first (bounded by `PostObjectFormReader`). `100 Continue` is sent for them — without
    /// the body there is nothing to authenticate — but nothing is forwarded before the form's
    /// signature, its policy and the policy engine have all said yes (`formCollected`).
    private func collectForm(contentType: String, exchange: Exchange, context: ChannelHandlerContext) {
        do {
            exchange.form = FormExchange(reader: try PostObjectFormReader(contentType: contentType))
        } catch {
            self.authenticationFinished(.failure(error), exchange: exchange)
            return
        }
        self.state = .collectingForm
        if exchange.expectsContinue && !exchange.sentContinue && !exchange.requestEnded {
            exchange.sentContinue = true
            context.writeAndFlush(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
        }
        self.resumeClientReads()
    }

    private func readForm(_ buffer: ByteBuffer, exchange: Exchange) {
        do {
            guard let state = exchange.form, case .complete(let form, let remainder) = try state.reader!.append(buffer) else { return }
            state.reader = nil
            if !remainder.isEmpty { exchange.pendingBody.append(ByteBuffer(bytes: remainder)) }
            // The file's content waits (reads held) until the form is decided.
            self.state = .authenticating
            self.formCollected(form, exchange: exchange)
        } catch {
            self.authenticationFinished(.failure(error), exchange: exchange)
        }
    }

    /// The form's fields are in: find who signed it, then verify (`formSignerKnown`).
    private func formCollected(_ form: PostObjectForm, exchange: Exchange) {
        guard let context = self.context else { return }
        let signature: PostPolicySignature
        do {
            guard let parsed = try PostPolicySignature.parse(field: form.value(of:)) else {
                throw S3Error.anonymousAccessDenied
            }
            signature = parsed
        } catch {
            self.authenticationFinished(.failure(error), exchange: exchange)
            return
        }
        let secrets = self.gateway.authenticator.secrets
        if let identity = secrets.identityNow(forAccessKey: signature.accessKey) {
            self.formSignerKnown(identity, form, signature, exchange: exchange)
            return
        }
        secrets.identity(forAccessKey: signature.accessKey, on: context.eventLoop).assumeIsolated().whenComplete { result in
            guard self.exchange === exchange, self.state == .authenticating else { return }
            switch result {
            case .success(let identity): self.formSignerKnown(identity, form, signature, exchange: exchange)
            case .failure(let error): self.authenticationFinished(.failure(error), exchange: exchange)
            }
        }
    }

    /// S3's checks, in S3's order: the signer's key, the signature over the policy, the policy's
    /// expiry and conditions against the form, then the key it names. From there the request is
    /// an authenticated PutObject of that key, decided by the policy engine like any other.
    private func formSignerKnown(_ identity: ClientIdentity?, _ form: PostObjectForm, _ signature: PostPolicySignature, exchange: Exchange) {
        guard var route = exchange.route, let clientBucket = route.bucket else { return }
        let authenticated: AuthenticatedRequest
        do {
            let skipSignatures = self.gateway.authenticator.skipSignatureValidation
            guard let signer = identity ?? (skipSignatures ? ClientIdentity.anonymous : nil) else {
                throw S3Error(.invalidAccessKeyId, "The AWS Access Key Id you provided does not exist in our records.")
            }
            guard let policyText = form.value(of: "policy") else {
                throw S3Error(.invalidArgument, "Bucket POST must contain a field named 'policy' when it is signed.")
            }
            guard skipSignatures || signature.verifies(policy: policyText, secretKey: signer.secretKey, keyCache: self.gateway.keyCache) else {
                throw S3Error(
                    .signatureDoesNotMatch,
                    "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
            }
            let policy = try PostPolicy(base64: policyText)
            try policy.check(form, bucket: clientBucket, now: AmzDate.now())
            let key = try PostObjectUpload.key(of: form)
            if self.gateway.router.dotSegmentKeys == .refuse, DotSegmentKeys.hasDotSegment(key) {
                throw S3RequestRouter.dotSegment
            }
            route.key = key
            route.alsoSets = WriteSettings(formField: form.value(of:))
            exchange.route = route
            exchange.form?.upload = PostObjectUpload(form: form, key: key, policy: policy, clientBucket: clientBucket)
            authenticated = AuthenticatedRequest(
                identity: signer, authentication: .postPolicy(signature), payloadMode: .unsigned, clientChunkSigning: nil)
        } catch {
            self.authenticationFinished(.failure(error), exchange: exchange)
            return
        }
        self.authenticationFinished(.success(authenticated), exchange: exchange)
    }

    /// The allowed form goes to the backend re-issued under the backend's key, its file part behind;
    /// to a backend reached with an IBM IAM token (no key to sign a form with), as a PUT of its file.
    private func forwardForm(
        _ upload: PostObjectUpload,
        _ authorization: BackendAuthorization,
        _ target: UpstreamTarget,
        _ authenticated: AuthenticatedRequest,
        exchange: Exchange
    ) {
        do {
            let credentials: BackendCredentials
            switch authorization {
            case .signature(let keys):
                credentials = keys
            case .bearer(let token):
                let (head, fileLength) = try upload.putRequest(
                    clientHead: exchange.head,
                    bucket: target.bucket,
                    backendBucket: target.bucket.backendBucketName(for: target.clientBucket),
                    token: token.value
                )
                exchange.form?.tail = PostObjectFormTail(
                    delimiter: upload.form.delimiter, unscanned: 0, sizeRange: upload.policy.contentLengthRange)
                exchange.form?.file = PostObjectFileStream(length: fileLength)
                self.connect(UpstreamRequest(head: head, endpoint: BackendEndpoint(target.bucket), chunkedBody: .decoded), authenticated: authenticated, exchange: exchange)
                return
            }
            let (head, preamble) = try upload.backendRequest(
                clientHead: exchange.head,
                bucket: target.bucket,
                backendBucket: target.bucket.backendBucketName(for: target.clientBucket),
                credentials: credentials,
                keyCache: self.gateway.keyCache,
                now: AmzDate.now()
            )
            exchange.form?.tail = PostObjectFormTail(
                delimiter: upload.form.delimiter, unscanned: preamble.readableBytes, sizeRange: upload.policy.contentLengthRange
            )
            exchange.pendingBody.insert(preamble, at: 0)
            self.connect(UpstreamRequest(head: head, endpoint: BackendEndpoint(target.bucket), chunkedBody: .decoded), authenticated: authenticated, exchange: exchange)
        } catch {
            self.refuse(error)
        }
    }

    /// Where the client will find the uploaded object at osp (a 201 `PostResponse` names it).
    private func formObjectLocation(_ upload: PostObjectUpload, exchange: Exchange) -> String {
        let scheme = self.transport.secure ? "https://" : "http://"
        let host = exchange.head.headers.first(name: "host") ?? ""
        let key = SigV4Canonical.uriEncode(upload.key, encodeSlash: false)
        if case .virtualHost? = exchange.route?.addressing {
            return scheme + host + "/" + key
        }
        return scheme + host + "/" + SigV4Canonical.uriEncode(upload.clientBucket, encodeSlash: true) + "/" + key
    }

    /// Every policy answer was allow: resolve the bucket's backend and its credentials.
    private func authorized(_ authenticated: AuthenticatedRequest, exchange: Exchange) {
        guard let route = exchange.route, self.context != nil else { return }
        let buckets = self.gateway.config.buckets

        guard let clientBucket = route.bucket else {
            // The service itself answers ListBuckets and nothing else: another request on `/` (a
            // MinIO STS `POST /?Action=AssumeRole`, whose answer is credentials) is not forwarded.
            guard route.operation == .listBuckets else {
                self.refuse(Self.notOnService)
                return
            }
            self.listBuckets(authenticated, exchange: exchange)
            return
        }
        guard let bucket = buckets.route(for: clientBucket) else {
            self.refuse(S3Error(.noSuchBucket, "The specified bucket does not exist"))
            return
        }

        var copySourceHeader: String?
        var copySourceRoute: BucketRoute?
        if let source = route.copySource {
            guard let sourceRoute = buckets.route(for: source.bucket) else {
                self.refuse(S3Error(.noSuchBucket, "The specified copy source bucket does not exist"))
                return
            }
            copySourceHeader = source.headerValue(backendBucket: sourceRoute.backendBucketName(for: source.bucket))
            copySourceRoute = sourceRoute
        }

        exchange.trace?.begin(.credentials)
        exchange.trace?.annotate { $0["osp.credentials.kind"] = bucket.ibmIAM == nil ? "hmac" : "ibm-iam" }
        let target = UpstreamTarget(route: route, bucket: bucket, clientBucket: clientBucket, copySourceHeader: copySourceHeader)
        if let source = route.copySource, let sourceRoute = copySourceRoute {
            self.copy(source, from: sourceRoute, target, authenticated, exchange: exchange)
            return
        }
        let principal = authenticated.identity.principal
        // Every request's path: keys from the config file (or a cached token) are at hand and used
        // with no closure or future made — `resolveBackendAuthorization` would allocate both.
        if let result = self.gateway.backendAuthorization.authorizationNow(for: bucket, principal: principal) {
            switch result {
            case .success(let authorization): self.backendAuthorizationResolved(authorization, target, authenticated, exchange: exchange)
            case .failure(let error): self.backendAuthorizationFailed(error, exchange: exchange)
            }
            return
        }
        self.resolveBackendAuthorization(for: bucket, principal: principal, exchange: exchange) {
            self.backendAuthorizationResolved($0, target, authenticated, exchange: exchange)
        }
    }

    static let notOnService = S3Error(.methodNotAllowed, "The specified method is not allowed against this resource.")

    /// Where an authorized request goes: what the upstream request is built from besides the
    /// client's request and the backend's authorization.
    private struct UpstreamTarget {
        var route: S3Route
        var bucket: BucketRoute
        var clientBucket: String
        var copySourceHeader: String?
    }

    private func backendAuthorizationResolved(
        _ authorization: BackendAuthorization,
        _ target: UpstreamTarget,
        _ authenticated: AuthenticatedRequest,
        exchange: Exchange
    ) {
        exchange.trace?.end()
        if let upload = exchange.form?.upload {
            self.forwardForm(upload, authorization, target, authenticated, exchange: exchange)
            return
        }
        do {
            var clientHead = exchange.head
            if let preflightHeaders = exchange.forwardedHeaders { clientHead.headers = preflightHeaders }
            let upstream = try UpstreamRequestBuilder.build(
                clientHead: clientHead,
                target: exchange.target,
                route: target.route,
                authentication: authenticated.authentication,
                payloadMode: authenticated.payloadMode,
                bucket: target.bucket,
                backendBucket: target.bucket.backendBucketName(for: target.clientBucket),
                copySourceHeader: target.copySourceHeader,
                authorization: authorization,
                keyCache: self.gateway.keyCache,
                forwardedQuery: exchange.forwardedQuery(authenticated.authentication),
                now: AmzDate.now()
            )
            self.connect(upstream, authenticated: authenticated, exchange: exchange)
        } catch {
            self.refuse(error)
        }
    }

    private func connect(_ upstream: UpstreamRequest, authenticated: AuthenticatedRequest, exchange: Exchange) {
        exchange.upstreamRequest = upstream
        if case .signed(let sha256Hex) = authenticated.payloadMode {
            // The backend gets this hash re-signed with its own key: osp checks the body against it
            // on the way (a request without a body, at once).
            if exchange.hasBody {
                exchange.payloadCheck = PayloadHashCheck(sha256Hex: sha256Hex, declaredLength: exchange.declaredLength)
            } else if !PayloadHashCheck.matchesEmptyBody(sha256Hex: sha256Hex) {
                self.refuse(PayloadHashCheck.mismatch)
                return
            }
        }
        if authenticated.payloadMode.isStreaming {
            // Checked before the backend hears of the request: a malformed or impossible length is
            // refused here, not passed on for the backend to judge.
            let decodedLength: Int64
            do {
                decodedLength = try DecodedContentLength.parse(exchange.head.headers)
            } catch {
                self.refuse(error)
                return
            }
            if authenticated.payloadMode.isSigned && authenticated.clientChunkSigning == nil
                && !self.gateway.config.server.skipSignatureValidation
            {
                self.refuse(S3Error(.internalError, "Missing chunk signing context"))
                return
            }
            exchange.transcoder = AWSChunkedTranscoder(
                mode: authenticated.payloadMode,
                verifying: authenticated.clientChunkSigning,
                output: upstream.chunkedBody,
                decodedContentLength: decodedLength
            )
        }
        self.state = .connecting
        self.beginUpstreamSpan(upstream.endpoint, exchange: exchange)
        self.lease(upstream.endpoint, exchange: exchange, fresh: false)
    }

    /// The `upstream` span: from asking the pool for a connection to the backend's response head.
    private func beginUpstreamSpan(_ endpoint: BackendEndpoint, exchange: Exchange) {
        guard exchange.trace != nil else { return }
        exchange.trace!.begin(.upstream)
        exchange.trace!.annotate {
            $0["server.address"] = endpoint.host
            $0["server.port"] = endpoint.port
        }
    }

    private func lease(_ endpoint: BackendEndpoint, exchange: Exchange, fresh: Bool) {
        self.pool.lease(endpoint, fresh: fresh) { result in
            guard self.exchange === exchange, self.state == .connecting else {
                if case .success(let connection) = result { self.pool.release(connection) }
                return
            }
            switch result {
            case .success(let connection):
                self.connected(connection, exchange: exchange)
            case .failure(let error):
                exchange.trace?.end(error: "connect failed")
                self.gateway.metrics.upstreamConnectFailed()
                self.gateway.logger.warning(
                    "backend unreachable",
                    metadata: ["endpoint": "\(endpoint)", "request_id": "\(exchange.requestID)", "error": "\(error)"]
                )
                self.refuse(S3Error(.badGateway, "The backend could not be reached."))
            }
        }
    }

    private func connected(_ connection: UpstreamConnection, exchange: Exchange) {
        guard let context = self.context, let upstream = exchange.upstreamRequest else { return }
        exchange.upstream = connection
        exchange.retriableOnReusedConnection = connection.isReused && !exchange.hasBody
        connection.markUsed()
        connection.handler.delegate = self
        connection.handler.resumeReads()
        self.state = .forwarding

        var head = upstream.head
        if exchange.trace != nil {
            exchange.trace!.annotate { $0["osp.upstream.connection_reused"] = connection.isReused }
            exchange.trace!.propagate(into: &head.headers)
        }
        if let form = exchange.form, form.file?.length == 0 {
            form.deferredHead = head
        } else {
            connection.channel.write(HTTPClientRequestPart.head(head), promise: nil)
        }
        // Always answer `Expect` once allowed, even when an empty body has already "arrived":
        // botocore waits for the 100 and misreads the next response on the connection without it.
        if exchange.expectsContinue && !exchange.sentContinue {
            exchange.sentContinue = true
            context.writeAndFlush(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
        }
        let pending = exchange.pendingBody
        exchange.pendingBody.removeAll()
        for buffer in pending where self.exchange === exchange && self.state == .forwarding {
            self.forwardBody(buffer, exchange: exchange)
        }
        guard self.exchange === exchange, self.state == .forwarding else { return }
        if exchange.requestEnded {
            self.finishRequestBody(exchange)
        } else {
            connection.channel.flush()
            self.resumeClientReads()
        }
    }

    private func forwardBody(_ buffer: ByteBuffer, exchange: Exchange) {
        guard let upstream = exchange.upstream else { return }
        if exchange.payloadCheck != nil {
            do {
                try exchange.payloadCheck!.consume(buffer)
            } catch {
                self.abortUpload(error, exchange: exchange)
                return
            }
        }
        if let form = exchange.form, form.tail != nil {
            do {
                try form.tail!.scan(buffer)
            } catch {
                self.abortUpload(error, exchange: exchange)
                return
            }
            if form.file != nil {
                let file = form.file!.take(buffer)
                if file.readableBytes > 0 {
                    upstream.channel.write(HTTPClientRequestPart.body(.byteBuffer(file)), promise: nil)
                }
                return
            }
        }
        if exchange.transcoder != nil {
            var input = buffer
            var output = upstream.channel.allocator.buffer(capacity: input.readableBytes + 256)
            do {
                try exchange.transcoder!.feed(&input, into: &output)
            } catch {
                self.abortUpload(error, exchange: exchange)
                return
            }
            if output.readableBytes > 0 {
                upstream.channel.write(HTTPClientRequestPart.body(.byteBuffer(output)), promise: nil)
            }
        } else {
            upstream.channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
        }
    }

    private func finishRequestBody(_ exchange: Exchange) {
        guard let upstream = exchange.upstream, !exchange.requestForwarded else { return }
        do {
            try exchange.form?.tail?.finish()
            try exchange.payloadCheck?.finish()
            if let form = exchange.form, let file = form.file, let tail = form.tail {
                // The form closed right after the PUT's length: now the PUT may complete.
                let last = try file.finish(fileBytes: tail.fileBytes)
                if let head = form.deferredHead {
                    form.deferredHead = nil
                    upstream.channel.write(HTTPClientRequestPart.head(head), promise: nil)
                }
                if let last { upstream.channel.write(HTTPClientRequestPart.body(.byteBuffer(last)), promise: nil) }
            }
        } catch {
            self.abortUpload(error, exchange: exchange)
            return
        }
        if exchange.transcoder != nil {
            do {
                try exchange.transcoder!.finish()
            } catch {
                self.abortUpload(error, exchange: exchange)
                return
            }
        }
        exchange.requestForwarded = true
        upstream.channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        if exchange.responseEnded {
            self.finishExchange()
        }
    }

    /// The upload cannot be completed (bad chunk signature, broken framing): close the backend
    /// connection before the request is complete, so the backend stores nothing.
    private func abortUpload(_ error: any Error, exchange: Exchange) {
        if let upstream = exchange.upstream {
            upstream.discard()
            exchange.upstream = nil
        }
        exchange.mustCloseClient = true
        if exchange.responseStarted {
            self.context?.close(promise: nil)
        } else {
            self.refuse(error)
        }
    }

    // MARK: - Copies

    /// CopyObject or UploadPartCopy, its source's read allowed by the policy like its write. The
    /// backend copies by itself only when the source is on the same backend and the same identity
    /// signs for both buckets: a server-side copy reads the source as the destination's identity,
    /// which with other keys (another account, another service instance, per-principal
    /// credentials) may not read it — and should not, as the operator gave the source bucket its
    /// own. Otherwise osp copies (`startCopy`): a GET of the source signed for it, streamed into the
    /// write signed for the destination. Such a copy has no body: one is refused, and the signed
    /// hash must be the empty body's (what `connect` checks for other requests).
    private func copy(
        _ copySource: CopySource, from sourceBucket: BucketRoute, _ target: UpstreamTarget, _ authenticated: AuthenticatedRequest,
        exchange: Exchange
    ) {
        let principal = authenticated.identity.principal
        self.resolveBackendAuthorization(for: sourceBucket, principal: principal, exchange: exchange) { sourceAuthorization in
            self.resolveBackendAuthorization(for: target.bucket, principal: principal, exchange: exchange) { destinationAuthorization in
                if BackendEndpoint(sourceBucket) == BackendEndpoint(target.bucket),
                    sourceAuthorization.isSameIdentity(as: destinationAuthorization)
                {
                    self.backendAuthorizationResolved(destinationAuthorization, target, authenticated, exchange: exchange)
                    return
                }
                exchange.trace?.end()
                if exchange.hasBody {
                    self.refuse(S3Error(.invalidRequest, "A copy request has no body."))
                    return
                }
                if case .signed(let sha256Hex) = authenticated.payloadMode, !PayloadHashCheck.matchesEmptyBody(sha256Hex: sha256Hex) {
                    self.refuse(PayloadHashCheck.mismatch)
                    return
                }
                let source = CopyEnd(bucket: sourceBucket, clientBucket: copySource.bucket, authorization: sourceAuthorization)
                let destination = CopyEnd(bucket: target.bucket, clientBucket: target.clientBucket, authorization: destinationAuthorization)
                self.startCopy(copySource, from: source, to: destination, authenticated, exchange: exchange)
            }
        }
    }

    /// One side of a copy between backends: the bucket and what signs for it.
    private struct CopyEnd {
        var bucket: BucketRoute
        var clientBucket: String
        var authorization: BackendAuthorization
    }

    /// A bucket's backend authorization: at once when it is at hand (keys from the config file, a
    /// cached credential or IAM token: then no future is made), else once fetched. A failure ends
    /// the credentials span with its error and refuses the request.
    private func resolveBackendAuthorization(
        for bucket: BucketRoute, principal: String, exchange: Exchange, then use: @escaping (BackendAuthorization) -> Void
    ) {
        guard let context = self.context else { return }
        let resolved: (Result<BackendAuthorization, any Error>) -> Void = { result in
            switch result {
            case .success(let authorization): use(authorization)
            case .failure(let error): self.backendAuthorizationFailed(error, exchange: exchange)
            }
        }
        if let result = self.gateway.backendAuthorization.authorizationNow(for: bucket, principal: principal) {
            resolved(result)
            return
        }
        self.gateway.backendAuthorization.authorization(
            for: bucket, principal: principal, trace: exchange.trace?.calloutHeaders() ?? .none, on: context.eventLoop
        ).assumeIsolated().whenComplete { result in
            guard self.exchange === exchange, self.state == .authenticating else { return }
            resolved(result)
        }
    }

    /// A backend authorization that could not be had: the credentials span ends with the error,
    /// and the request is refused.
    private func backendAuthorizationFailed(_ error: any Error, exchange: Exchange) {
        exchange.trace?.end(Result<BackendAuthorization, any Error>.failure(error))
        self.refuse(error)
    }

    private func startCopy(
        _ copySource: CopySource, from source: CopyEnd, to destination: CopyEnd, _ authenticated: AuthenticatedRequest,
        exchange: Exchange
    ) {
        guard let context = self.context, let route = exchange.route else { return }
        let clientHeaders = exchange.head.headers
        let keyCache = self.gateway.keyCache
        let sourceRequest: UpstreamRequest
        do {
            // The key re-encoded as S3 encodes a path, whatever encoding the header used.
            let keyPath = "/" + SigV4Canonical.uriEncode(copySource.key, encodeSlash: false)
            let query = copySource.versionId.map { "versionId=" + SigV4Canonical.uriEncode($0, encodeSlash: true) } ?? ""
            sourceRequest = try UpstreamRequestBuilder.build(
                clientHead: HTTPRequestHead(
                    version: .http1_1, method: .GET, uri: keyPath, headers: CopyBetweenBackends.sourceHeaders(clientHeaders)),
                target: RequestTarget(rawPath: keyPath, rawQuery: query),
                route: S3Route(
                    bucket: copySource.bucket, key: copySource.key, rawKeyPath: keyPath, addressing: .path,
                    operation: S3Operation(name: "GetObject", action: copySource.action)),
                authentication: .anonymous,
                payloadMode: .signed(sha256Hex: emptyBodySHA256),
                bucket: source.bucket,
                backendBucket: source.bucket.backendBucketName(for: source.clientBucket),
                copySourceHeader: nil,
                authorization: source.authorization,
                keyCache: keyCache,
                forwardedQuery: query,
                now: AmzDate.now()
            )
        } catch {
            self.refuse(error)
            return
        }
        let operation = route.operation.name
        let forwardedQuery = exchange.forwardedQuery(authenticated.authentication)
        let copy = CrossBackendCopy(
            pool: self.pool,
            sourceRequest: sourceRequest,
            readsRange: CopyBetweenBackends.readsRange(clientHeaders),
            destinationRequest: { sourceHead throws(S3Error) in
                var head = exchange.head
                head.headers = try CopyBetweenBackends.destinationHeaders(clientHeaders, operation: operation, source: sourceHead)
                return try UpstreamRequestBuilder.build(
                    clientHead: head,
                    target: exchange.target,
                    route: route,
                    authentication: authenticated.authentication,
                    payloadMode: .unsigned,
                    bucket: destination.bucket,
                    backendBucket: destination.bucket.backendBucketName(for: destination.clientBucket),
                    copySourceHeader: nil,
                    authorization: destination.authorization,
                    keyCache: keyCache,
                    forwardedQuery: forwardedQuery,
                    now: AmzDate.now()
                )
            },
            completion: { outcome in
                guard self.exchange === exchange, self.state == .copying else { return }
                exchange.copy = nil
                self.copyFinished(outcome, operation: operation, exchange: exchange)
            }
        )
        exchange.copy = copy
        self.state = .copying
        if exchange.expectsContinue && !exchange.sentContinue {
            exchange.sentContinue = true
            context.writeAndFlush(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
        }
        copy.start()
        self.scheduleCopyKeepAlive(exchange, in: Self.copyKeepAliveDelay)
    }

    /// How long a copy through osp may run before osp commits to `200 OK` and keeps the client's
    /// connection alive with whitespace, as S3 does during a long copy (a client's read timeout
    /// would otherwise end it mid-way), and how often the whitespace goes then.
    static let copyKeepAliveDelay = TimeAmount.seconds(2)
    static let copyKeepAliveInterval = TimeAmount.seconds(3)

    /// Once committed, the copy's outcome is the body of the `200 OK`: S3's result document, or an
    /// S3 error document — how S3 answers a copy that fails once under way, and what the SDKs read
    /// as the error it is.
    private func scheduleCopyKeepAlive(_ exchange: Exchange, in delay: TimeAmount) {
        guard let context = self.context else { return }
        exchange.copyKeepAlive = context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
            guard self.exchange === exchange, self.state == .copying, let context = self.context else { return }
            if !exchange.copyCommitted {
                exchange.copyCommitted = true
                exchange.status = 200
                exchange.responseStarted = true
                var headers = HTTPHeaders([
                    ("content-type", "application/xml"), ("transfer-encoding", "chunked"), ("x-amz-request-id", exchange.requestID),
                ])
                if self.closesAfterResponse(exchange) { headers.add(name: "connection", value: "close") }
                context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            }
            exchange.bytesOut += 1
            context.writeAndFlush(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: " ")))), promise: nil)
            self.scheduleCopyKeepAlive(exchange, in: Self.copyKeepAliveInterval)
        }
    }

    /// The committed copy's outcome as the rest of its `200 OK`: the document without its XML
    /// declaration, which may not follow the whitespace already sent.
    private func finishCommittedCopy(_ document: ByteBuffer, errorCode: String?, exchange: Exchange) {
        guard let context = self.context else { return }
        var body = document
        if body.readableBytesView.starts(with: "<?xml".utf8), let end = body.readableBytesView.firstRange(of: "?>".utf8) {
            body.moveReaderIndex(to: end.upperBound)
        }
        exchange.errorCode = errorCode
        exchange.responseEnded = true
        self.state = .answered
        exchange.bytesOut += body.readableBytes
        context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        self.writeResponseEnd(context)
        if exchange.requestEnded { self.finishExchange() } else { self.resumeClientReads() }
    }

    private func copyFinished(_ outcome: CrossBackendCopy.Outcome, operation: String, exchange: Exchange) {
        guard let context = self.context else { return }
        exchange.copyKeepAlive?.cancel()
        exchange.copyKeepAlive = nil
        switch outcome {
        case .copied(let source, let destination):
            exchange.upstreamStatus = Int(destination.status.code)
            let (headers, body) = CopyBetweenBackends.response(
                operation: operation, source: source, destination: destination,
                lastModified: ListAllMyBucketsResult.iso8601(AmzDate.now()), allocator: context.channel.allocator)
            if exchange.copyCommitted {
                self.finishCommittedCopy(body, errorCode: nil, exchange: exchange)
            } else {
                self.answer(.ok, headers, body, exchange: exchange)
            }
        case .backendAnswered(let head, let body):
            // The backend's refusal, as it gave it (its framing headers are osp's to set).
            exchange.upstreamStatus = Int(head.status.code)
            guard !exchange.copyCommitted else {
                self.finishCommittedCopy(body, errorCode: nil, exchange: exchange)
                return
            }
            var headers = head.headers
            for name in ["content-length", "transfer-encoding"] + Self.hopByHopResponseHeaders where headers.contains(name: name) {
                headers.remove(name: name)
            }
            self.answer(head.status, headers, body, exchange: exchange)
        case .failed(let error):
            guard exchange.copyCommitted else {
                self.refuse(error)
                return
            }
            let rendered = S3ErrorResponse.render(
                error, resource: exchange.target.rawPath, requestID: exchange.requestID, allocator: context.channel.allocator,
                keepAlive: true)
            self.finishCommittedCopy(rendered.body ?? ByteBuffer(), errorCode: error.code.rawValue, exchange: exchange)
        }
    }

    // MARK: - Responding

    /// Answers the current request with osp's own S3 error. If the request body has not been
    /// read, the connection closes after the answer (the unread bytes cannot be trusted to frame
    /// the next request).
    private func refuse(_ error: any Error) {
        guard let context = self.context, let exchange = self.exchange else { return }
        let s3Error = (error as? S3Error) ?? S3Error(.internalError, "We encountered an internal error. Please try again.")
        if let upstream = exchange.upstream {
            upstream.discard()
            exchange.upstream = nil
        }
        exchange.copy?.cancel()
        exchange.copy = nil
        exchange.copyKeepAlive?.cancel()
        if !exchange.requestEnded && exchange.hasBody {
            exchange.mustCloseClient = true
        }
        exchange.status = s3Error.code.httpStatus
        exchange.errorCode = s3Error.code.rawValue
        self.gateway.logger.info(
            "request refused",
            metadata: [
                "request_id": "\(exchange.requestID)",
                "code": "\(s3Error.code.rawValue)",
                "method": "\(exchange.head.method.rawValue)",
                "principal": "\(exchange.principal ?? "-")",
            ]
        )
        let rendered = S3ErrorResponse.render(
            s3Error,
            resource: exchange.target.rawPath,
            requestID: exchange.requestID,
            allocator: context.channel.allocator,
            keepAlive: !self.closesAfterResponse(exchange),
            isHeadRequest: exchange.head.method == .HEAD
        )
        self.state = .answered
        exchange.responseStarted = true
        exchange.responseEnded = true
        context.write(Self.wrapOutboundOut(.head(rendered.head)), promise: nil)
        if let body = rendered.body {
            exchange.bytesOut += body.readableBytes
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        self.writeResponseEnd(context)
        if exchange.requestEnded || exchange.mustCloseClient {
            self.finishExchange()
        } else {
            // A bodyless request whose `.end` is still on its way: finish when it arrives.
            self.resumeClientReads()
        }
    }

    /// Answers the current request with a whole response osp holds: its own result, or a
    /// backend's answer it read whole. Framing (`Content-Length`, `Connection`) is set here.
    private func answer(_ status: HTTPResponseStatus, _ headers: HTTPHeaders, _ body: ByteBuffer, exchange: Exchange) {
        guard let context = self.context else { return }
        var headers = headers
        headers.add(name: "content-length", value: String(body.readableBytes))
        if !headers.contains(name: "x-amz-request-id") {
            headers.add(name: "x-amz-request-id", value: exchange.requestID)
        }
        if self.closesAfterResponse(exchange) {
            headers.add(name: "connection", value: "close")
        }
        exchange.status = Int(status.code)
        exchange.responseStarted = true
        exchange.responseEnded = true
        self.state = .answered
        context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if exchange.head.method != .HEAD {
            exchange.bytesOut += body.readableBytes
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        self.writeResponseEnd(context)
        if exchange.requestEnded { self.finishExchange() } else { self.resumeClientReads() }
    }

    private func writeResponseEnd(_ context: ChannelHandlerContext) {
        context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// Closes the connection once everything written to it has gone out: the last response's tail
    /// may still sit in the channel's buffer (backpressure), and a close drops what was not sent.
    /// An empty write behind it completes after it (NIO completes writes in order, and the
    /// encoder passes an empty body part on as a no-op), so only the closing connection pays for
    /// a promise, not every response.
    private func closeAfterResponseWritten(_ context: ChannelHandlerContext) {
        let drained = context.eventLoop.makePromise(of: Void.self)
        let nothing = context.channel.allocator.buffer(capacity: 0)
        context.writeAndFlush(Self.wrapOutboundOut(.body(.byteBuffer(nothing))), promise: drained)
        drained.futureResult.assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }

    /// The client connection ends with this response: the client asked for it, the rest of the
    /// request cannot be trusted to frame a next one, the server is shutting down, or the client
    /// sent its last request (no more are queued and its input is closed).
    private func closesAfterResponse(_ exchange: Exchange) -> Bool {
        exchange.mustCloseClient || !exchange.keepAlive || self.draining
            || (self.clientInputClosed && self.pipelined.isEmpty)
    }

    /// Both directions are done: give the backend connection back (or close it) and get ready
    /// for the next request on this connection.
    private func finishExchange() {
        guard let exchange = self.exchange, let context = self.context else { return }
        self.record(exchange)
        if let upstream = exchange.upstream {
            exchange.upstream = nil
            if exchange.upstreamKeepAlive && exchange.requestForwarded && exchange.responseEnded {
                self.pool.release(upstream)
            } else {
                upstream.discard()
            }
        }
        self.exchange = nil
        if self.closesAfterResponse(exchange) {
            self.state = .closed
            self.closeAfterResponseWritten(context)
            return
        }
        self.state = .idle
        // An idle connection should not keep a config a reload replaced alive (nor its threads).
        self.generation = self.current.generation
        self.deliverPipelined()
        self.resumeClientReads()
    }

    /// The request is over (answered, or its connection ended under it): counted in the metrics and
    /// written to the access log, once.
    private func record(_ exchange: Exchange) {
        guard !exchange.recorded else { return }
        exchange.recorded = true
        exchange.trace?.finish(status: exchange.status, errorCode: exchange.errorCode)
        exchange.trace = nil
        let elapsed = (NIODeadline.now() - exchange.started).nanoseconds
        let method = MetricLabels.methodIndex(exchange.head.method)
        self.gateway.metrics.requestFinished(
            method: method,
            action: MetricLabels.actionIndex(exchange.route?.operation.action),
            statusClass: MetricLabels.statusClassIndex(exchange.status),
            durationNanoseconds: elapsed,
            bytesIn: exchange.bytesIn,
            bytesOut: exchange.bytesOut
        )
        guard self.gateway.accessLog.isEnabled else { return }
        self.gateway.accessLog.write(
            AccessLogRecord(
                time: exchange.time,
                requestID: exchange.requestID,
                remote: self.context.flatMap { self.sourceIP($0) },
                method: exchange.head.method.rawValue,
                action: exchange.route?.operation.action,
                bucket: exchange.route?.bucket,
                key: exchange.route?.key,
                status: exchange.status,
                bytesIn: exchange.bytesIn,
                bytesOut: exchange.bytesOut,
                durationMicroseconds: Int(elapsed / 1000),
                principal: exchange.principal,
                decision: exchange.decision,
                reason: exchange.decisionReason,
                upstreamStatus: exchange.upstreamStatus,
                errorCode: exchange.errorCode
            )
        )
    }

    private func listBuckets(_ authenticated: AuthenticatedRequest, exchange: Exchange) {
        guard let context = self.context else { return }
        let configured = self.gateway.config.buckets.routes.keys.sorted()
        let visibility = self.gateway.authorizer.visibleBuckets(for: authenticated.identity)
        let respond: (ListAllMyBucketsResult) -> Void = { listing in
            guard self.exchange === exchange, let context = self.context else { return }
            var listing = listing
            listing.keep(visibility)
            let body = listing.xml(allocator: context.channel.allocator)
            self.answer(.ok, ["content-type": "application/xml"], body, exchange: exchange)
        }
        var listing = ListAllMyBucketsResult(
            ownerID: authenticated.identity.principal,
            buckets: configured.map { (name: $0, creationDate: self.gateway.startTime) }
        )
        guard let defaultRoute = self.gateway.config.buckets.defaultRoute else {
            respond(listing)
            return
        }
        // With a default route, the default backend's own buckets are reachable too: list them.
        exchange.trace?.begin(.credentials)
        self.gateway.backendAuthorization.authorization(
            for: defaultRoute,
            principal: authenticated.identity.principal,
            trace: exchange.trace?.calloutHeaders() ?? .none,
            on: context.eventLoop
        ).assumeIsolated().whenComplete { result in
            guard self.exchange === exchange else { return }
            exchange.trace?.end(result)
            let upstream: UpstreamRequest
            do {
                upstream = try UpstreamRequestBuilder.build(
                    clientHead: HTTPRequestHead(version: .http1_1, method: .GET, uri: "/"),
                    target: RequestTarget(rawPath: "/", rawQuery: ""),
                    route: exchange.route!,
                    authentication: .anonymous,
                    payloadMode: .signed(sha256Hex: emptyBodySHA256),
                    bucket: defaultRoute,
                    backendBucket: nil,
                    copySourceHeader: nil,
                    authorization: result.get(),
                    keyCache: self.gateway.keyCache,
                    now: AmzDate.now()
                )
            } catch {
                self.refuse(error)
                return
            }
            exchange.aggregate = ResponseAggregate { status, body in
                guard status == 200, let backendList = ListAllMyBucketsResult.parseBucketNames(body) else {
                    self.refuse(S3Error(.badGateway, "The default backend did not list its buckets."))
                    return
                }
                listing.merge(backendList, creationDate: self.gateway.startTime)
                respond(listing)
            }
            exchange.upstreamRequest = upstream
            self.state = .connecting
            exchange.requestEnded = true
            self.beginUpstreamSpan(upstream.endpoint, exchange: exchange)
            self.lease(upstream.endpoint, exchange: exchange, fresh: false)
        }
    }
}

// MARK: - Backend events

extension S3ProxyHandler: UpstreamExchangeDelegate {
    func upstreamResponsePart(_ part: HTTPClientResponsePart) {
        guard let exchange = self.exchange, let context = self.context, self.state == .forwarding else { return }
        switch part {
        case .head(let head):
            if head.status.code < 200 { return }  // osp answered `Expect` itself; 1xx are not forwarded
            exchange.upstreamKeepAlive = head.isKeepAlive
            exchange.upstreamStatus = Int(head.status.code)
            if exchange.trace != nil {
                exchange.trace!.annotate { $0["http.response.status_code"] = Int(head.status.code) }
                exchange.trace!.end()
            }
            if let aggregate = exchange.aggregate {
                aggregate.status = Int(head.status.code)
                return
            }
            let closes = self.closesAfterResponse(exchange)
            var response = head
            if let form = exchange.form, let upload = form.upload, (200..<300).contains(head.status.code) {
                // The form's success answer is osp's to give (its bucket, osp's address); the
                // backend's own success body, if any, is not passed on.
                let answer = upload.clientResponse(backendHead: head, location: self.formObjectLocation(upload, exchange: exchange))
                response = answer.head
                form.responseBody = answer.body ?? ByteBuffer()
            }
            // The backend's head goes out as it came when it is already right for this client
            // (HTTP/1.1, nothing hop-by-hop but `Connection: keep-alive`): rewriting it copies it.
            if closes || head.version != .http1_1 || Self.hasHopByHopHeaders(head.headers) {
                response.version = .http1_1
                for name in Self.hopByHopResponseHeaders where response.headers.contains(name: name) {
                    response.headers.remove(name: name)
                }
                if closes {
                    response.headers.add(name: "connection", value: "close")
                }
            }
            exchange.status = Int(response.status.code)
            exchange.responseStarted = true
            context.write(Self.wrapOutboundOut(.head(response)), promise: nil)
        case .body(let buffer):
            if let aggregate = exchange.aggregate {
                if !aggregate.append(buffer) {
                    self.abortResponse(exchange)
                }
                return
            }
            if exchange.form?.responseBody != nil { return }
            exchange.bytesOut += buffer.readableBytes
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            if !context.channel.isWritable {
                exchange.upstream?.handler.holdReads()
            }
        case .end:
            exchange.responseEnded = true
            if let aggregate = exchange.aggregate {
                exchange.aggregate = nil
                exchange.requestForwarded = true
                if let upstream = exchange.upstream {
                    exchange.upstream = nil
                    if exchange.upstreamKeepAlive { self.pool.release(upstream) } else { upstream.discard() }
                }
                aggregate.complete(aggregate.status, aggregate.body)
                return
            }
            if let body = exchange.form?.responseBody, body.readableBytes > 0 {
                exchange.bytesOut += body.readableBytes
                context.write(Self.wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            }
            self.writeResponseEnd(context)
            if exchange.requestForwarded {
                self.finishExchange()
            } else {
                // The backend answered before the upload finished (typically an error): the
                // backend connection is out of step and the client's remaining body is unread.
                exchange.upstreamKeepAlive = false
                exchange.mustCloseClient = !exchange.requestEnded
                exchange.requestForwarded = true
                self.finishExchange()
            }
        }
    }

    /// A backend's headers that describe its connection to osp, not osp's to the client.
    private static let hopByHopResponseHeaders = ["connection", "keep-alive", "proxy-connection", "transfer-encoding-ignored"]

    /// Whether `headers` say anything about the backend connection beyond `Connection: keep-alive`
    /// (which holds for the client's too, when osp keeps it open).
    private static func hasHopByHopHeaders(_ headers: HTTPHeaders) -> Bool {
        for (name, value) in headers {
            if name.equalsLowercaseASCII("connection") {
                if !value.equalsLowercaseASCII("keep-alive") { return true }
            } else if Self.hopByHopResponseHeaders.contains(where: { name.equalsLowercaseASCII($0) }) {
                return true
            }
        }
        return false
    }

    func upstreamReadComplete() {
        if self.state == .forwarding, self.exchange?.aggregate == nil {
            self.context?.flush()
        }
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        if isWritable { self.resumeClientReads() }
    }

    func upstreamFailed(_ error: UpstreamError) {
        guard let exchange = self.exchange, self.state == .forwarding else { return }
        let upstream = exchange.upstream
        exchange.upstream = nil
        upstream?.discard()
        if exchange.responseStarted && exchange.aggregate == nil {
            // Part of the response is already with the client: the only honest signal left is to cut the connection.
            self.context?.close(promise: nil)
            return
        }
        if exchange.retriableOnReusedConnection, error == .closedEarly, let request = exchange.upstreamRequest {
            // A pooled connection the backend had closed while idle: try once more on a new one.
            exchange.trace?.annotate { $0["osp.upstream.retried"] = true }
            exchange.retriableOnReusedConnection = false
            exchange.requestForwarded = false
            self.state = .connecting
            self.lease(request.endpoint, exchange: exchange, fresh: true)
            return
        }
        exchange.aggregate = nil
        exchange.trace?.end(error: error == .timedOut ? "timeout" : "backend failed")
        self.gateway.logger.warning(
            "backend exchange failed",
            metadata: ["request_id": "\(exchange.requestID)", "error": "\(error)"]
        )
        switch error {
        case .timedOut:
            self.refuse(S3Error(.gatewayTimeout, "The backend did not answer in time."))
        default:
            self.refuse(S3Error(.badGateway, "The backend closed the connection."))
        }
    }

    private func abortResponse(_ exchange: Exchange) {
        exchange.aggregate = nil
        self.upstreamFailed(.protocolError("response too large"))
    }
}

/// SHA-256 of the empty body, the payload hash of bodyless requests osp makes itself.
private let emptyBodySHA256 = PayloadHashCheck.emptyBodySHA256

/// One request in flight on a client connection, from head to the end of its response.
private final class Exchange {
    let requestID: String
    let head: HTTPRequestHead
    let target: RequestTarget
    let keepAlive: Bool
    let expectsContinue: Bool
    /// Whether the body comes chunked (`Transfer-Encoding`), its length unknown until its end.
    let isChunked: Bool
    /// The body's length as `Content-Length` declares it, read once here for every use; nil when
    /// the body is chunked or the head declares none (NIO's decoder has already refused a head
    /// with both, or with a malformed or repeated length).
    let declaredLength: Int64?
    /// Whether the request carries a body (Content-Length > 0 or chunked transfer).
    var hasBody: Bool { self.isChunked || (self.declaredLength ?? 0) > 0 }

    var route: S3Route?
    var principal: String?
    /// The principal the connection's client certificate vouched for, when one is bound.
    var certificatePrincipal: String?
    var upstreamRequest: UpstreamRequest?
    var upstream: UpstreamConnection?
    var transcoder: AWSChunkedTranscoder?
    /// The body's hash against its `x-amz-content-sha256`, when that is a SHA-256.
    var payloadCheck: PayloadHashCheck?
    var aggregate: ResponseAggregate?
    /// A copy between two backends in flight (nil for every other request).
    var copy: CrossBackendCopy?
    /// The copy's next whitespace (`S3ProxyHandler.scheduleCopyKeepAlive`).
    var copyKeepAlive: Scheduled<Void>?
    /// The copy ran long: `200 OK` is sent, its outcome will be the body.
    var copyCommitted = false
    /// A browser form upload's state (nil for every other request, which so stays as small).
    var form: FormExchange?
    /// The request's spans; nil when tracing is off.
    var trace: RequestTrace?

    var authenticated: AuthenticatedRequest?
    /// Sent to the backend instead of the client's headers: a CORS preflight's own.
    var forwardedHeaders: HTTPHeaders?
    var pendingBody: [ByteBuffer] = []
    var pendingBodyBytes = 0
    /// What the body being collected says (`collectingBody`), known from the route once.
    var decisionBody: DecisionBody?
    var requestEnded = false
    var requestForwarded = false
    var sentContinue = false
    var responseStarted = false
    var responseEnded = false
    var upstreamKeepAlive = false
    var mustCloseClient = false
    var retriableOnReusedConnection = false
    var status = 0
    /// Request body bytes received from the client (forwarded or not).
    var bytesIn = 0
    /// Response body bytes sent to the client (the backend's, or osp's own answer).
    var bytesOut = 0

    // For metrics and the access log.
    let started = NIODeadline.now()
    /// Wall-clock arrival, read only when an access log is written.
    var time = LogTimestamp(millisecondsSinceEpoch: 0)
    var decision = AccessLogRecord.Decision.none
    var decisionReason: String?
    var upstreamStatus: Int?
    var errorCode: String?
    /// Counted and logged already: a request is recorded once, however it ends.
    var recorded = false
    private var queryWithoutCredentials: String?

    /// The query without the client's credentials — what a policy backend sees and the backend
    /// gets — computed once for both.
    func forwardedQuery(_ authentication: ClientAuthentication) -> String {
        if let known = self.queryWithoutCredentials { return known }
        let query = self.target.queryWithoutCredentials(of: authentication)
        self.queryWithoutCredentials = query
        return query
    }

    init(requestID: String, head: HTTPRequestHead) {
        self.requestID = requestID
        self.head = head
        self.target = RequestTarget(uri: head.uri)
        self.keepAlive = head.isKeepAlive
        self.expectsContinue = head.headers["expect"].contains { $0.lowercased() == "100-continue" }
        self.isChunked = head.headers.contains(name: "transfer-encoding")
        self.declaredLength = self.isChunked ? nil : head.headers.first(name: "content-length").flatMap { Int64($0) }
    }
}

/// What osp keeps of a browser form upload while it is read, decided and streamed.
private final class FormExchange {
    /// Reading the fields before the file; nil once they are in.
    var reader: PostObjectFormReader?
    /// The form as read and decided.
    var upload: PostObjectUpload?
    /// The file streaming to the backend, watched for what follows it.
    var tail: PostObjectFormTail?
    /// The file alone, when the form goes on as a PUT (a backend reached with an IAM token).
    var file: PostObjectFileStream?
    /// That PUT's head, when the file is empty: a PUT of nothing is complete with its head, which
    /// so waits until the form has closed.
    var deferredHead: HTTPRequestHead?
    /// The answer osp gives for the form's success instead of the backend's body (empty for none).
    var responseBody: ByteBuffer?

    init(reader: PostObjectFormReader) {
        self.reader = reader
    }
}

/// A small backend response osp reads whole instead of streaming (the default route's
/// ListBuckets, which osp merges with its configured buckets). Bounded.
private final class ResponseAggregate {
    static let limit = 4 << 20
    var status = 0
    var body = ByteBuffer()
    let complete: (Int, ByteBuffer) -> Void

    init(complete: @escaping (Int, ByteBuffer) -> Void) {
        self.complete = complete
    }

    func append(_ buffer: ByteBuffer) -> Bool {
        guard self.body.readableBytes + buffer.readableBytes <= Self.limit else { return false }
        var buffer = buffer
        self.body.writeBuffer(&buffer)
        return true
    }
}

extension HTTPServerRequestPart {
    fileprivate var isHead: Bool {
        if case .head = self { return true }
        return false
    }
}

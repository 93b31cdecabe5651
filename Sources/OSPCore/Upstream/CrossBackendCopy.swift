import NIOCore
import NIOHTTP1
import S3Signing

/// One copy between buckets on two backends (see `CopyBetweenBackends` for what is sent): a GET
/// of the source on one backend connection, its body streamed as the write to the destination on
/// another. Memory stays constant whatever the size: the source is read only while the
/// destination connection is writable.
///
/// Nothing partial is stored: the destination's write is complete only when all the bytes the
/// source declared have gone through; if the source ends early, sends more, or fails, the
/// destination connection is closed before the write completes. A backend's refusal (a missing
/// source, a failed condition, a denied write) is handed back whole to be passed on.
///
/// Both connections are new ones (`fresh`), released to the pool after a clean exchange: a pooled
/// connection the backend closed while idle would fail the copy half-way, where a plain request
/// could be retried. Runs on the client's event loop, like everything of its exchange.
final class CrossBackendCopy {
    enum Outcome {
        /// Both backends succeeded: the source's and the destination's response heads.
        case copied(source: HTTPResponseHead, destination: HTTPResponseHead)
        /// A backend answered with something other than success: its response, to pass on.
        case backendAnswered(HTTPResponseHead, ByteBuffer)
        /// osp ends the copy with its own error.
        case failed(S3Error)
    }

    enum Side { case source, destination }

    private enum State {
        /// Waiting for a connection to the source's backend.
        case leasingSource
        /// The GET is sent; waiting for its answer.
        case awaitingSourceHead
        /// The source is found; waiting for a connection to the destination's backend (the
        /// source's reads are held, the bytes already read kept).
        case leasingDestination
        /// Source bytes flow into the destination's write.
        case streaming
        /// All bytes are written; waiting for the destination's answer.
        case awaitingDestination
        /// Reading a backend's answer whole (bounded by `answerLimit`): a refusal, or the
        /// destination's success.
        case collectingAnswer(Side, HTTPResponseHead, ByteBuffer)
        /// Done: the outcome is delivered (or the copy was cancelled).
        case finished
    }

    /// The most of a backend's answer read (an S3 error document, or the write's empty success).
    static let answerLimit = 64 << 10

    private let pool: UpstreamConnectionPool
    private let sourceRequest: UpstreamRequest
    private let expectedSourceStatus: HTTPResponseStatus
    private let destinationRequest: (HTTPResponseHead) throws(S3Error) -> UpstreamRequest
    private let completion: (Outcome) -> Void

    private var state = State.leasingSource
    private var source: UpstreamConnection?
    private var destination: UpstreamConnection?
    private var sourceHead: HTTPResponseHead?
    private var sourceKeepAlive = false
    private var sourceEnded = false
    private var destinationRequestSent = false
    private var declaredBytes: Int64 = 0
    private var copiedBytes: Int64 = 0
    /// Source bytes read before the destination's connection was there.
    private var pending: [ByteBuffer] = []
    private var sourceLeg: Leg!
    private var destinationLeg: Leg!

    /// - Parameters:
    ///   - sourceRequest: the signed GET of the source.
    ///   - readsRange: whether the GET asks for a range (then `206` is the source's success).
    ///   - destinationRequest: the signed write, made from the source's answer (its length and
    ///     metadata); its error ends the copy before anything is written.
    init(
        pool: UpstreamConnectionPool,
        sourceRequest: UpstreamRequest,
        readsRange: Bool,
        destinationRequest: @escaping (HTTPResponseHead) throws(S3Error) -> UpstreamRequest,
        completion: @escaping (Outcome) -> Void
    ) {
        self.pool = pool
        self.sourceRequest = sourceRequest
        self.expectedSourceStatus = readsRange ? .partialContent : .ok
        self.destinationRequest = destinationRequest
        self.completion = completion
        self.sourceLeg = Leg(self, .source)
        self.destinationLeg = Leg(self, .destination)
    }

    func start() {
        self.pool.lease(self.sourceRequest.endpoint, fresh: true) { result in
            guard case .leasingSource = self.state else {
                if case .success(let connection) = result { connection.discard() }
                return
            }
            switch result {
            case .success(let connection):
                self.source = connection
                self.attach(connection, self.sourceLeg)
                self.state = .awaitingSourceHead
                connection.channel.write(HTTPClientRequestPart.head(self.sourceRequest.head), promise: nil)
                connection.channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            case .failure:
                self.finish(.failed(S3Error(.badGateway, "The copy source's backend could not be reached.")))
            }
        }
    }

    /// The client is gone: both connections close, mid-write, so the destination stores nothing.
    func cancel() {
        guard !self.isFinished else { return }
        self.state = .finished
        self.dropConnections()
    }

    private var isFinished: Bool {
        if case .finished = self.state { return true }
        return false
    }

    private func attach(_ connection: UpstreamConnection, _ leg: Leg) {
        connection.markUsed()
        connection.handler.delegate = leg
        connection.handler.resumeReads()
    }

    // MARK: - The source

    fileprivate func sourcePart(_ part: HTTPClientResponsePart) {
        switch (part, self.state) {
        case (.head(let head), .awaitingSourceHead):
            if head.status.code < 200 { return }
            self.sourceKeepAlive = head.isKeepAlive
            if head.status == self.expectedSourceStatus {
                self.sourceFound(head)
            } else if head.status == .notModified {
                // A GET's "not modified" is a copy's failed precondition.
                self.finish(.failed(S3Error(.preconditionFailed, "At least one of the pre-conditions you specified did not hold")))
            } else if head.status.code < 300 {
                self.finish(.failed(S3Error(.badGateway, "The copy source's backend answered \(head.status.code) to its GET.")))
            } else {
                self.state = .collectingAnswer(.source, head, ByteBuffer())
            }
        case (.body(let buffer), .leasingDestination):
            self.pending.append(buffer)
            self.count(buffer)
        case (.body(let buffer), .streaming):
            self.count(buffer)
            guard !self.isFinished, let destination = self.destination else { return }
            destination.channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
            if !destination.channel.isWritable { self.source?.handler.holdReads() }
        case (.body(let buffer), .collectingAnswer(.source, let head, var body)):
            self.collect(buffer, .source, head, &body)
        case (.end, .leasingDestination):
            self.sourceEnded = true
        case (.end, .streaming):
            self.sourceEnded = true
            self.endWrite()
        case (.end, .collectingAnswer(.source, let head, let body)):
            self.releaseSource()
            self.finish(.backendAnswered(head, body))
        default:
            break
        }
    }

    private func sourceFound(_ head: HTTPResponseHead) {
        let request: UpstreamRequest
        do {
            self.declaredBytes = try CopyBetweenBackends.sourceLength(head)
            request = try self.destinationRequest(head)
        } catch {
            self.finish(.failed(error))
            return
        }
        self.sourceHead = head
        self.source?.handler.holdReads()
        self.state = .leasingDestination
        self.pool.lease(request.endpoint, fresh: true) { result in
            guard case .leasingDestination = self.state else {
                if case .success(let connection) = result { connection.discard() }
                return
            }
            switch result {
            case .success(let connection):
                self.destinationConnected(connection, request)
            case .failure:
                self.finish(.failed(S3Error(.badGateway, "The copy destination's backend could not be reached.")))
            }
        }
    }

    /// Counts source bytes against the length the source declared: more is a broken answer.
    private func count(_ buffer: ByteBuffer) {
        self.copiedBytes += Int64(buffer.readableBytes)
        if self.copiedBytes > self.declaredBytes {
            self.finish(.failed(S3Error(.badGateway, "The copy source's backend sent more bytes than it announced.")))
        }
    }

    // MARK: - The destination

    private func destinationConnected(_ connection: UpstreamConnection, _ request: UpstreamRequest) {
        self.destination = connection
        self.attach(connection, self.destinationLeg)
        self.state = .streaming
        connection.channel.write(HTTPClientRequestPart.head(request.head), promise: nil)
        let pending = self.pending
        self.pending.removeAll()
        for buffer in pending {
            connection.channel.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
        }
        if self.sourceEnded {
            self.endWrite()
        } else {
            connection.channel.flush()
            if connection.channel.isWritable { self.source?.handler.resumeReads() }
        }
    }

    /// The source has ended: the write ends too if every declared byte came, else it is cut.
    private func endWrite() {
        guard self.copiedBytes == self.declaredBytes else {
            self.finish(.failed(S3Error(.badGateway, "The copy source's backend sent fewer bytes than it announced.")))
            return
        }
        self.releaseSource()
        self.destinationRequestSent = true
        self.state = .awaitingDestination
        self.destination?.channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    fileprivate func destinationPart(_ part: HTTPClientResponsePart) {
        switch (part, self.state) {
        case (.head(let head), .streaming), (.head(let head), .awaitingDestination):
            if head.status.code < 200 { return }
            if !self.destinationRequestSent {
                // Answered before the write was whole (a refusal): the source is not needed any more.
                self.source?.discard()
                self.source = nil
            }
            self.state = .collectingAnswer(.destination, head, ByteBuffer())
        case (.body(let buffer), .collectingAnswer(.destination, let head, var body)):
            self.collect(buffer, .destination, head, &body)
        case (.end, .collectingAnswer(.destination, let head, let body)):
            guard let sourceHead = self.sourceHead else { return }
            let succeeded = (200..<300).contains(head.status.code)
            if self.destinationRequestSent, head.isKeepAlive, let destination = self.destination {
                self.destination = nil
                self.pool.release(destination)
            }
            if !succeeded {
                self.finish(.backendAnswered(head, body))
            } else if self.destinationRequestSent {
                self.finish(.copied(source: sourceHead, destination: head))
            } else {
                self.finish(.failed(S3Error(.badGateway, "The copy destination's backend answered before the write was complete.")))
            }
        default:
            break
        }
    }

    private func collect(_ buffer: ByteBuffer, _ side: Side, _ head: HTTPResponseHead, _ body: inout ByteBuffer) {
        guard body.readableBytes + buffer.readableBytes <= Self.answerLimit else {
            self.finish(.failed(S3Error(.badGateway, "A backend's answer to the copy was too large.")))
            return
        }
        var buffer = buffer
        body.writeBuffer(&buffer)
        self.state = .collectingAnswer(side, head, body)
    }

    // MARK: - Connections

    fileprivate func readComplete(_ side: Side) {
        if side == .source, case .streaming = self.state { self.destination?.channel.flush() }
    }

    fileprivate func writabilityChanged(_ side: Side, isWritable: Bool) {
        if side == .destination, isWritable, case .streaming = self.state { self.source?.handler.resumeReads() }
    }

    fileprivate func failed(_ side: Side, _ error: UpstreamError) {
        if side == .source { self.source = nil } else { self.destination = nil }
        guard !self.isFinished else { return }
        let whose = side == .source ? "copy source's" : "copy destination's"
        if error == .timedOut {
            self.finish(.failed(S3Error(.gatewayTimeout, "The \(whose) backend did not answer in time.")))
        } else {
            self.finish(.failed(S3Error(.badGateway, "The \(whose) backend closed the connection.")))
        }
    }

    /// The source connection after a complete answer: kept for reuse if the backend keeps it.
    private func releaseSource() {
        guard let source = self.source else { return }
        self.source = nil
        if self.sourceKeepAlive { self.pool.release(source) } else { source.discard() }
    }

    private func dropConnections() {
        self.source?.discard()
        self.source = nil
        self.destination?.discard()
        self.destination = nil
        self.pending.removeAll()
    }

    private func finish(_ outcome: Outcome) {
        guard !self.isFinished else { return }
        self.state = .finished
        self.dropConnections()
        self.completion(outcome)
    }

    /// One connection's events, told apart for the copy that owns both.
    private final class Leg: UpstreamExchangeDelegate {
        private weak var copy: CrossBackendCopy?
        private let side: Side

        init(_ copy: CrossBackendCopy, _ side: Side) {
            self.copy = copy
            self.side = side
        }

        func upstreamResponsePart(_ part: HTTPClientResponsePart) {
            switch self.side {
            case .source: self.copy?.sourcePart(part)
            case .destination: self.copy?.destinationPart(part)
            }
        }

        func upstreamReadComplete() { self.copy?.readComplete(self.side) }
        func upstreamWritabilityChanged(isWritable: Bool) { self.copy?.writabilityChanged(self.side, isWritable: isWritable) }
        func upstreamFailed(_ error: UpstreamError) { self.copy?.failed(self.side, error) }
    }
}

import NIOCore
import NIOEmbedded
import Testing

@testable import OSPCore

/// Records the user events that reach the end of the pipeline.
private final class EventRecorder: ChannelInboundHandler {
    typealias InboundIn = NIOAny
    var stalls = 0

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is UpstreamStallTimer.Stalled { self.stalls += 1 }
    }
}

@Suite("Backend connection stall timer")
struct UpstreamStallTimerTests {
    let channel = EmbeddedChannel()
    fileprivate let recorder = EventRecorder()

    init() throws {
        try self.channel.pipeline.syncOperations.addHandlers(UpstreamStallTimer(timeout: .seconds(10)), self.recorder)
        try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9000)).wait()
    }

    private func advance(seconds: Int64) {
        self.channel.embeddedEventLoop.advanceTime(by: .seconds(seconds))
    }

    @Test("a connection on which nothing moves stalls after the timeout, not before")
    func idleConnectionStalls() {
        self.advance(seconds: 9)
        #expect(self.recorder.stalls == 0)
        self.advance(seconds: 1)
        #expect(self.recorder.stalls == 1)
    }

    @Test("every byte read from the backend restarts the clock")
    func readsAreProgress() throws {
        for _ in 0..<5 {
            self.advance(seconds: 8)
            try self.channel.writeInbound(ByteBuffer(string: "x"))
        }
        #expect(self.recorder.stalls == 0)
        self.advance(seconds: 10)
        #expect(self.recorder.stalls == 1)
    }

    @Test("writes the connection can take are progress; writes piling up behind a full buffer are not")
    func writesWhileWritable() throws {
        self.advance(seconds: 8)
        try self.channel.writeOutbound(ByteBuffer(string: "request"))
        self.advance(seconds: 8)
        #expect(self.recorder.stalls == 0)

        // The backend stops reading: the buffer fills and the channel turns unwritable.
        self.channel.isWritable = false
        self.channel.pipeline.fireChannelWritabilityChanged()
        try self.channel.writeOutbound(ByteBuffer(string: "more"))
        self.advance(seconds: 2)
        #expect(self.recorder.stalls == 1)
    }

    @Test("the buffer draining (writable again) is progress")
    func writabilityRestored() {
        self.channel.isWritable = false
        self.channel.pipeline.fireChannelWritabilityChanged()
        self.advance(seconds: 9)
        self.channel.isWritable = true
        self.channel.pipeline.fireChannelWritabilityChanged()
        self.advance(seconds: 9)
        #expect(self.recorder.stalls == 0)
        self.advance(seconds: 1)
        #expect(self.recorder.stalls == 1)
    }

    @Test("a closed connection schedules nothing more")
    func closedConnection() throws {
        try self.channel.close().wait()
        self.advance(seconds: 60)
        #expect(self.recorder.stalls == 0)
    }
}

import NIOCore

/// Cuts a backend connection on which nothing has moved for `timeout` (`upstream.read_timeout_seconds`):
/// no byte came in, and no byte could go out. Leased, that is a backend that stopped answering or
/// stopped reading an upload; pooled, an idle connection that has outlived its use.
///
/// It stands where NIO's `IdleStateHandler(allTimeout:)` would, because that handler learns that
/// a write finished by wrapping every write in a promise with a callback — four allocations and a
/// future per proxied request on the hot path. This one never touches a write's promise. A write
/// counts as progress when the channel is writable (NIO's outbound buffer is below its high-water
/// mark, so the kernel is taking bytes), and so does the channel becoming writable again. A
/// backend that stops reading an upload therefore shows as a channel that stays unwritable (osp
/// stops reading the client meanwhile, so nothing else moves); one that stops answering, as no
/// reads. Either way the connection is idle from its last progress, and `Stalled` fires once
/// `timeout` has passed since then.
final class UpstreamStallTimer: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias InboundOut = NIOAny
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    /// The user event sent down the pipeline when the connection has been idle for the timeout.
    struct Stalled: Sendable, Equatable {}

    let timeout: TimeAmount
    private var lastProgress = NIODeadline.distantPast
    private var check: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive {
            self.start(context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.check?.cancel()
        self.check = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        self.start(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.check?.cancel()
        self.check = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.lastProgress = context.eventLoop.now
        context.fireChannelRead(data)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.lastProgress = context.eventLoop.now
        }
        context.fireChannelWritabilityChanged()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if context.channel.isWritable {
            self.lastProgress = context.eventLoop.now
        }
        context.write(data, promise: promise)
    }

    private func start(_ context: ChannelHandlerContext) {
        guard self.check == nil else { return }
        self.lastProgress = context.eventLoop.now
        self.schedule(context, at: self.lastProgress + self.timeout)
    }

    private func schedule(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        self.check = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.checkProgress(context)
        }
    }

    private func checkProgress(_ context: ChannelHandlerContext) {
        guard context.channel.isActive else {
            self.check = nil
            return
        }
        let idleSince = self.lastProgress
        if context.eventLoop.now - idleSince >= self.timeout {
            // Checked again a full timeout on: whoever handles the event usually closes.
            self.schedule(context, at: context.eventLoop.now + self.timeout)
            context.fireUserInboundEventTriggered(Stalled())
        } else {
            self.schedule(context, at: idleSince + self.timeout)
        }
    }
}

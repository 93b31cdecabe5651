import NIOCore

/// The `rules` backend: grants from the config file, answered in place. Evaluation is a few byte
/// comparisons, so the answer is an already-succeeded future on the caller's loop — no thread hop.
public struct RulesPolicy: PolicyEngine {
    public let rules: RuleSet
    public var name: String { "rules" }

    public init(_ rules: RuleSet) {
        self.rules = rules
    }

    public init(grants: [Grant]) {
        self.init(RuleSet(grants))
    }

    public func decide(_ request: AuthorizationRequest, on eventLoop: any EventLoop) -> EventLoopFuture<PolicyDecision> {
        eventLoop.makeSucceededFuture(rules.evaluate(request))
    }
}

/// The `allow-all` backend: every authenticated request is allowed. For development only; osp
/// warns loudly at start-up when it is configured, because it turns the gateway into a key-swapper.
public struct AllowAllPolicy: PolicyEngine {
    public var name: String { "allow-all" }

    public init() {}

    public func decide(_ request: AuthorizationRequest, on eventLoop: any EventLoop) -> EventLoopFuture<PolicyDecision> {
        eventLoop.makeSucceededFuture(.allow(nil))
    }
}

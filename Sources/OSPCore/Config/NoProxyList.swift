/// The hosts osp reaches directly although a proxy is configured (`upstream.no_proxy`, else
/// `NO_PROXY`/`no_proxy`), with the meaning curl and Go give the variable:
///
/// - `*` alone: no host goes through the proxy;
/// - a name (`example.com` or `.example.com`): that host and every host under it;
/// - an IP address (`10.1.2.3`, `::1`, `[::1]`): that literal address;
/// - an IPv4 network in CIDR form (`10.0.0.0/8`): every literal address in it.
///
/// Names are not resolved: `localhost` does not exclude `127.0.0.1`, and loopback is not excluded
/// unless listed (curl and Go differ there; an explicit list is the predictable choice).
/// Port-qualified entries (`host:port`) are not supported: the port is ignored.
public struct NoProxyList: Sendable, Equatable {
    enum Entry: Sendable, Equatable {
        case everything
        case domain(String)
        case address(String)
        case ipv4Network(base: UInt32, mask: UInt32)
    }

    var entries: [Entry]

    public static let empty = NoProxyList(entries: [])

    init(entries: [Entry]) {
        self.entries = entries
    }

    /// From a list of entries (config) — each may itself be a comma-separated list (environment).
    public init(_ items: [String]) {
        var entries: [Entry] = []
        for item in items {
            for raw in item.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" }) {
                if let entry = Self.entry(String(raw)) { entries.append(entry) }
            }
        }
        self.entries = entries
    }

    public var isEmpty: Bool { entries.isEmpty }

    /// Whether `host` (a name or a literal address, as in a URL or a bucket route) bypasses the proxy.
    public func matches(host: String) -> Bool {
        guard !entries.isEmpty else { return false }
        let host = Self.normalized(host)
        let ipv4 = Self.ipv4(host)
        for entry in entries {
            switch entry {
            case .everything:
                return true
            case .domain(let domain):
                if host == domain || host.hasSuffix("." + domain) { return true }
            case .address(let address):
                if host == address { return true }
            case .ipv4Network(let base, let mask):
                if let ipv4, ipv4 & mask == base { return true }
            }
        }
        return false
    }

    private static func entry(_ raw: String) -> Entry? {
        var text = normalized(raw)
        if text == "*" { return .everything }
        if let slash = text.firstIndex(of: "/") {
            guard let base = ipv4(String(text[..<slash])), let bits = Int(text[text.index(after: slash)...]), (0...32).contains(bits) else {
                return nil
            }
            let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << UInt32(32 - bits)
            return .ipv4Network(base: base & mask, mask: mask)
        }
        // A `host:port` entry (one colon; an IPv6 literal has more): the port is not compared.
        if text.count(where: { $0 == ":" }) == 1, let colon = text.firstIndex(of: ":") {
            text = String(text[..<colon])
        }
        if text.isIPAddress { return .address(text) }
        while text.hasPrefix(".") { text.removeFirst() }
        if text.hasPrefix("*.") { text.removeFirst(2) }
        return text.isEmpty ? nil : .domain(text)
    }

    /// Lower case, without IPv6 brackets or a trailing root dot.
    private static func normalized(_ host: String) -> String {
        var host = host.lowercased()
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
            host = String(host[host.index(after: host.startIndex)..<close])
        }
        if host.hasSuffix(".") { host.removeLast() }
        return host
    }

    private static func ipv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard part.count <= 3, part.allSatisfy(\.isASCIIDigit), let byte = UInt32(part), byte <= 255 else { return nil }
            value = value << 8 | byte
        }
        return value
    }
}

import OSPCore

/// The router target: the input is a request head (`RequestHeadInput`), routed with two virtual-host
/// domains, one under the other. Besides not crashing: a path-style key path is part of the path as
/// sent, the `x-amz-copy-source` osp rebuilds for the backend reads back as the same source (and
/// none is routed unread: it is a copy's, or refused), no backend extension header is routed, and no
/// key or copy-source key with a `.` or `..` segment is routed (the default `dot_segment_keys: refuse`).
enum RouterFuzzing {
    static let router = S3RequestRouter(virtualHostDomains: ["s3.local", "eu.s3.local"])

    static func run(_ input: [UInt8]) -> FuzzOutcome {
        let head = RequestHeadInput(input)
        let rawPath = String(head.rawPath)
        let route: S3Route
        do {
            route = try router.route(
                method: head.method, rawPath: rawPath, rawQuery: String(head.rawQuery),
                host: head.headers.first(name: "host"), headers: head.headers)
        } catch {
            return .refused(error.code.rawValue)
        }

        if case .path = route.addressing {
            invariant(rawPath.hasSuffix(route.rawKeyPath), "key path \(route.rawKeyPath) is not the end of \(rawPath)")
        }
        invariant(route.key == nil || route.bucket != nil, "a key without a bucket")
        invariant(!(route.key.map(DotSegmentKeys.hasDotSegment) ?? false), "key \(route.key ?? "") with a dot segment was routed")
        invariant(!(route.copySource.map { DotSegmentKeys.hasDotSegment($0.key) } ?? false), "copy source with a dot segment was routed")
        // An x-amz-copy-source is read (and authorized) or the request is refused; never passed on unread.
        invariant(
            route.copySource != nil || route.operation == .preflightRequest || !head.headers.contains(name: "x-amz-copy-source"),
            "x-amz-copy-source routed unread on \(route.operation.name)")
        invariant(
            !head.headers.contains(where: { S3RequestRouter.isBackendExtension(Substring($0.name)) }),
            "a backend extension header was routed")
        if let source = route.copySource {
            do {
                let reread = try CopySource(headerValue: source.headerValue(backendBucket: source.bucket))
                invariant(reread == source, "x-amz-copy-source \(source) reads back as \(reread)")
            } catch {
                invariant(false, "the rebuilt x-amz-copy-source of \(source) was refused: \(error)")
            }
        }
        return .accepted("\(route.operation.name) bucket=\(route.bucket ?? "-") key=\(route.key ?? "-")\(route.copySource.map { " source=\($0.bucket)/\($0.key)" } ?? "")")
    }
}

import S3Signing
import Testing

@testable import OSPCore

@Suite("Bucket configurations that name destination buckets")
struct BucketDestinationsTests {
    typealias Destination = BucketDestinations.Destination

    func read(_ xml: String, _ kind: DecisionBody) throws(S3Error) -> [Destination] {
        try BucketDestinations(xml: Array(xml.utf8), kind: kind).destinations
    }

    @Test("a logging target, as botocore writes it (grantee attributes included), is read with its prefix")
    func loggingTarget() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <BucketLoggingStatus xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LoggingEnabled>\
            <TargetBucket>logs-bucket</TargetBucket><TargetGrants><Grant><Grantee \
            xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs</URI></Grantee>\
            <Permission>READ</Permission></Grant></TargetGrants><TargetPrefix>access/&amp;</TargetPrefix>\
            </LoggingEnabled></BucketLoggingStatus>
            """
        #expect(try read(xml, .bucketLogging) == [Destination(bucket: "logs-bucket", prefix: "access/&")])
        #expect(
            try read("<BucketLoggingStatus><LoggingEnabled><TargetBucket>b</TargetBucket></LoggingEnabled></BucketLoggingStatus>", .bucketLogging)
                == [Destination(bucket: "b", prefix: "")])
    }

    @Test(
        "turning logging off, and an analysis without an export, write nowhere",
        arguments: [
            ("<BucketLoggingStatus xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\" />", DecisionBody.bucketLogging),
            ("<BucketLoggingStatus>\n</BucketLoggingStatus>", .bucketLogging),
            ("<AnalyticsConfiguration><Id>a</Id><StorageClassAnalysis/></AnalyticsConfiguration>", .bucketAnalytics),
        ])
    func nowhere(_ xml: String, _ kind: DecisionBody) throws {
        #expect(try read(xml, kind).isEmpty)
    }

    @Test("every replication rule's destination is read, under the rule's prefix whichever way it is written")
    func replicationRules() throws {
        let xml = """
            <ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Role>arn:aws:iam::123456789012:role/replication</Role>
              <Rule><ID>one</ID><Priority>1</Priority><Status>Enabled</Status>
                <Filter><Prefix>team/</Prefix></Filter>
                <DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>
                <Destination><Bucket>arn:aws:s3:::replica-a</Bucket><StorageClass>STANDARD</StorageClass></Destination>
              </Rule>
              <Rule><ID>two</ID><Status>Enabled</Status>
                <Filter><And><Prefix>in/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter>
                <Destination><Bucket>arn:aws-cn:s3:::replica-b</Bucket></Destination>
              </Rule>
              <Rule><Status>Enabled</Status><Prefix>old/</Prefix>
                <Destination><Bucket>arn:aws:s3:::replica-c</Bucket></Destination></Rule>
              <Rule><Status>Enabled</Status><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>
                <Destination><Bucket>arn:aws:s3:::replica-d</Bucket></Destination></Rule>
            </ReplicationConfiguration>
            """
        #expect(
            try read(xml, .bucketReplication) == [
                Destination(bucket: "replica-a", prefix: "team/"),
                Destination(bucket: "replica-b", prefix: "in/"),
                Destination(bucket: "replica-c", prefix: "old/"),
                Destination(bucket: "replica-d", prefix: ""),
            ])
    }

    @Test("an inventory's and an analytics export's S3 destination are read")
    func exports() throws {
        let inventory = """
            <InventoryConfiguration><Destination><S3BucketDestination><Format>CSV</Format>\
            <Bucket>arn:aws:s3:::reports</Bucket><Prefix>inv</Prefix></S3BucketDestination></Destination>\
            <IsEnabled>true</IsEnabled><Id>i</Id><IncludedObjectVersions>All</IncludedObjectVersions>\
            <Schedule><Frequency>Daily</Frequency></Schedule></InventoryConfiguration>
            """
        #expect(try read(inventory, .bucketInventory) == [Destination(bucket: "reports", prefix: "inv")])
        let analytics = """
            <AnalyticsConfiguration><Id>a</Id><StorageClassAnalysis><DataExport>\
            <OutputSchemaVersion>V_1</OutputSchemaVersion><Destination><S3BucketDestination>\
            <Format>CSV</Format><Bucket>arn:aws:s3:::reports</Bucket></S3BucketDestination></Destination>\
            </DataExport></StorageClassAnalysis></AnalyticsConfiguration>
            """
        #expect(try read(analytics, .bucketAnalytics) == [Destination(bucket: "reports", prefix: "")])
    }

    @Test(
        "a destination named by anything but an S3 bucket ARN is NotImplemented",
        arguments: [
            "arn:minio:replication::3f2a:replica", "replica", "arn:aws:s3:::", "arn:aws:s3:::bucket/prefix",
            "arn:aws:s3:us-east-1:123456789012:accesspoint/ap", "arn::s3:::bucket",
        ])
    func unmappableARN(_ arn: String) {
        let xml = "<ReplicationConfiguration><Rule><Destination><Bucket>\(arn)</Bucket></Destination></Rule></ReplicationConfiguration>"
        #expect(throws: BucketDestinations.unmappableARN) { try read(xml, .bucketReplication) }
    }

    @Test(
        "a body two parsers could read as different destinations, or that is not the document, is MalformedXML",
        arguments: [
            // a second target or destination, a prefix both in the rule and in its filter
            "<BucketLoggingStatus><LoggingEnabled><TargetBucket>a</TargetBucket><TargetBucket>b</TargetBucket></LoggingEnabled></BucketLoggingStatus>",
            "<BucketLoggingStatus><LoggingEnabled><TargetBucket>a</TargetBucket></LoggingEnabled><LoggingEnabled><TargetBucket>b</TargetBucket></LoggingEnabled></BucketLoggingStatus>",
            "<ReplicationConfiguration><Rule><Prefix>a/</Prefix><Filter><Prefix>b/</Prefix></Filter><Destination><Bucket>arn:aws:s3:::r</Bucket></Destination></Rule></ReplicationConfiguration>",
            // hidden from one reader: a comment, CDATA, a prefixed element, text beside elements
            "<BucketLoggingStatus><LoggingEnabled><TargetBucket>a<!-- -->b</TargetBucket></LoggingEnabled></BucketLoggingStatus>",
            "<BucketLoggingStatus><LoggingEnabled><TargetBucket><![CDATA[a]]></TargetBucket></LoggingEnabled></BucketLoggingStatus>",
            "<BucketLoggingStatus><LoggingEnabled><s3:TargetBucket xmlns:s3=\"u\">a</s3:TargetBucket></LoggingEnabled></BucketLoggingStatus>",
            "<BucketLoggingStatus><!-- --><LoggingEnabled><TargetBucket>a</TargetBucket></LoggingEnabled></BucketLoggingStatus>",
            "<BucketLoggingStatus>x<LoggingEnabled><TargetBucket>a</TargetBucket></LoggingEnabled></BucketLoggingStatus>",
            // a name that goes on past what osp reads as one (`.` is a name character in XML): the
            // fuzzer's first find, read as <BucketLoggingStatus> with an attribute `.amlns`
            "<BucketLoggingStatus.amlns=\"u\"/>",
            "<BucketLoggingStatus><LoggingEnabled><TargetBucket-x=\"\">a</TargetBucket-x></LoggingEnabled></BucketLoggingStatus>",
            "<BucketLoggingStatus a=\"1\"b=\"2\"/>",
            // a target that is no text, none at all, another root, trailing content, unclosed
            "<BucketLoggingStatus><LoggingEnabled><TargetBucket><B>a</B></TargetBucket></LoggingEnabled></BucketLoggingStatus>",
            "<BucketLoggingStatus><LoggingEnabled><TargetPrefix>p</TargetPrefix></LoggingEnabled></BucketLoggingStatus>",
            "<LoggingStatus><LoggingEnabled><TargetBucket>a</TargetBucket></LoggingEnabled></LoggingStatus>",
            "<BucketLoggingStatus/><BucketLoggingStatus/>",
            "<BucketLoggingStatus><LoggingEnabled><TargetBucket>a</TargetBucket></LoggingEnabled>",
            "<ReplicationConfiguration><Rule><Status>Enabled</Status></Rule></ReplicationConfiguration>",
            "<InventoryConfiguration><Id>i</Id></InventoryConfiguration>",
        ])
    func malformed(_ xml: String) throws {
        let kind: DecisionBody =
            xml.hasPrefix("<Replication") ? .bucketReplication : xml.hasPrefix("<Inventory") ? .bucketInventory : .bucketLogging
        let error = try #require(throws: S3Error.self) { try read(xml, kind) }
        #expect(error.code == .malformedXML)
    }

    @Test("nesting deeper than any of the documents is refused, not recursed into")
    func tooDeep() throws {
        let depth = 5_000
        let xml = "<BucketLoggingStatus>" + String(repeating: "<a>", count: depth) + String(repeating: "</a>", count: depth) + "</BucketLoggingStatus>"
        let error = try #require(throws: S3Error.self) { try read(xml, .bucketLogging) }
        #expect(error.code == .malformedXML)
    }

    @Test("a body over 1 MiB is refused unread")
    func tooLarge() throws {
        let filler = String(repeating: "x", count: 1 << 20)
        let error = try #require(throws: S3Error.self) {
            try read("<BucketLoggingStatus><Id>\(filler)</Id></BucketLoggingStatus>", .bucketLogging)
        }
        #expect(error == DecisionBody.bucketLogging.tooLarge)
    }

    // MARK: - Which destinations osp can pass on

    let backend = BucketRoute(name: "source", host: "10.0.0.1", port: 9000)

    var buckets: BucketMap {
        BucketMap(routes: [
            "source": backend,
            "logs": BucketRoute(name: "logs", host: "10.0.0.1", port: 9000),
            "aliased": BucketRoute(name: "aliased", host: "10.0.0.1", port: 9000, backendBucket: "real-logs"),
            "elsewhere": BucketRoute(name: "elsewhere", host: "10.0.0.2", port: 9000),
        ])
    }

    func check(_ target: String, in buckets: BucketMap? = nil) throws(S3Error) {
        let body = "<BucketLoggingStatus><LoggingEnabled><TargetBucket>\(target)</TargetBucket></LoggingEnabled></BucketLoggingStatus>"
        try BucketDestinations(xml: Array(body.utf8), kind: .bucketLogging).check(against: buckets ?? self.buckets, source: backend)
    }

    @Test("a destination served under its own name on the same backend passes; the default route serves any name")
    func servedAsNamed() throws {
        try check("logs")
        try check("source")
        try check("unlisted", in: BucketMap(routes: ["source": backend], defaultRoute: BucketRoute(name: "*", host: "10.0.0.1", port: 9000)))
    }

    @Test("a destination osp does not serve is AccessDenied (the backend's key may well reach it)")
    func notServed() throws {
        let error = try #require(throws: S3Error.self) { try check("payroll") }
        #expect(error.code == .accessDenied)
        // The backend name of an aliased bucket is no bucket clients can name.
        #expect(throws: S3Error.self) { try check("real-logs") }
    }

    @Test("a destination served under an alias or by another backend is NotImplemented: the body is not rewritten")
    func servedOtherwise() throws {
        for target in ["aliased", "elsewhere"] {
            let error = try #require(throws: S3Error.self) { try check(target) }
            #expect(error.code == .notImplemented)
        }
    }

    @Test("each destination asks s3:PutObject on its bucket, under its prefix, for the same principal")
    func questions() throws {
        let destinations = try BucketDestinations(
            xml: Array("<BucketLoggingStatus><LoggingEnabled><TargetBucket>logs</TargetBucket><TargetPrefix>src/</TargetPrefix></LoggingEnabled></BucketLoggingStatus>".utf8),
            kind: .bucketLogging)
        let base = AuthorizationRequest(
            principal: "alice", groups: ["eng"], action: "s3:PutBucketLogging", bucket: "source", key: nil,
            conditions: ["prefix": "x", "SourceIp": "127.0.0.1"],
            request: RequestContext(method: "PUT", path: "/source", query: "logging", headers: [:], sourceIP: "127.0.0.1"))
        let asked = destinations.destinationQuestions(from: base)
        #expect(asked.count == 1)
        #expect(asked[0].principal == "alice" && asked[0].groups == ["eng"])
        #expect(asked[0].action == "s3:PutObject" && asked[0].bucket == "logs" && asked[0].key == "src/")
        #expect(asked[0].conditions == ["SourceIp": "127.0.0.1"])
    }
}

import Foundation
import S3Signing
import Testing

@testable import OSPCore

/// The `{"input": ...}` document osp sends: MinIO's policy-plugin fields (so MinIO policies work),
/// osp's additions, the header allow-list, and stable bytes. Decoded with `JSONSerialization`, not
/// with osp's own JSON type, so an encoder bug cannot hide behind a matching decoder bug.
@Suite("OPA input document")
struct OPAInputTests {
    static let request = AuthorizationRequest(
        principal: "alice",
        groups: ["readers", "team"],
        action: "s3:ListBucket",
        bucket: "proxy-bucket01",
        key: nil,
        conditions: ["prefix": "team/", "delimiter": "/", "max-keys": "100", "SecureTransport": "false"],
        request: RequestContext(
            method: "GET",
            path: "/proxy-bucket01",
            query: "list-type=2&prefix=team%2F",
            headers: ["User-Agent": "aws-cli/2", "Authorization": "AWS4-HMAC-SHA256 Credential=secret", "X-Other": "x"],
            sourceIP: "10.0.0.7"
        )
    )

    func input(_ request: AuthorizationRequest, headers: [String]) throws -> [String: Any] {
        let body = OPAInput.requestBody(for: request, headerAllowList: headers)
        let top = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        #expect(top.keys.sorted() == ["input"])
        return try #require(top["input"] as? [String: Any])
    }

    @Test func carriesMinIOFieldsAndOSPAdditions() throws {
        let input = try input(Self.request, headers: ["user-agent"])
        #expect(input["account"] as? String == "alice")
        #expect(input["principal"] as? String == "alice")
        #expect(input["groups"] as? [String] == ["readers", "team"])
        #expect(input["action"] as? String == "s3:ListBucket")
        #expect(input["bucket"] as? String == "proxy-bucket01")
        #expect(input["object"] as? String == "")
        let conditions = try #require(input["conditions"] as? [String: Any])
        #expect(conditions["prefix"] as? [String] == ["team/"])
        #expect(conditions["delimiter"] as? [String] == ["/"])
        #expect(conditions["max-keys"] as? [String] == ["100"])
        #expect(conditions["SecureTransport"] as? [String] == ["false"])
        #expect(conditions.count == 4)
        let http = try #require(input["request"] as? [String: Any])
        #expect(http["method"] as? String == "GET")
        #expect(http["path"] as? String == "/proxy-bucket01")
        #expect(http["query"] as? String == "list-type=2&prefix=team%2F")
        #expect(http["source_ip"] as? String == "10.0.0.7")
        #expect(http["headers"] as? [String: String] == ["user-agent": "aws-cli/2"])
    }

    @Test func headersFollowTheAllowListAndNeverIncludeCredentials() throws {
        let none = try input(Self.request, headers: [])
        #expect((none["request"] as? [String: Any])?["headers"] as? [String: String] == [:])
        let listed = try input(Self.request, headers: ["X-OTHER", "authorization", "user-agent"])
        #expect((listed["request"] as? [String: Any])?["headers"] as? [String: String] == ["x-other": "x", "user-agent": "aws-cli/2"])
        let bytes = String(decoding: OPAInput.requestBody(for: Self.request, headerAllowList: ["authorization"]), as: UTF8.self)
        #expect(!bytes.contains("Credential=secret"))
    }

    @Test func objectRequestsNameTheKeyAndBucketlessOnesAreEmpty() throws {
        let object = AuthorizationRequest(principal: "bob", action: "s3:GetObject", bucket: "b", key: "a/b c+d.txt")
        let objectInput = try input(object, headers: [])
        #expect(objectInput["object"] as? String == "a/b c+d.txt")
        #expect(objectInput["groups"] as? [String] == [])
        #expect((objectInput["request"] as? [String: Any])?["source_ip"] == nil)
        let listBuckets = try input(AuthorizationRequest(principal: "bob", action: "s3:ListAllMyBuckets"), headers: [])
        #expect(listBuckets["bucket"] as? String == "")
        #expect(listBuckets["object"] as? String == "")
    }

    @Test func currentTimeIsAddedWhenThePolicyIsAsked() throws {
        let body = OPAInput.requestBody(for: Self.request, headerAllowList: [], now: AmzDate(secondsSinceEpoch: 1_795_000_000))
        let top = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let conditions = try #require((top["input"] as? [String: Any])?["conditions"] as? [String: Any])
        #expect(conditions["CurrentTime"] as? [String] == ["2026-11-18T11:06:40.000Z"])
    }

    @Test func theSameQuestionIsTheSameBytes() {
        let first = OPAInput.requestBody(for: Self.request, headerAllowList: ["user-agent"])
        let second = OPAInput.requestBody(for: Self.request, headerAllowList: ["user-agent"])
        #expect(first == second)
        let text = String(decoding: first, as: UTF8.self)
        #expect(text.hasPrefix(#"{"input":{"account":"alice","action":"s3:ListBucket","bucket":"proxy-bucket01","conditions":{"#))
        #expect(text.contains(#""path":"/proxy-bucket01""#))  // slashes unescaped
    }
}

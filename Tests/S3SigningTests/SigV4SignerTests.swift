import NIOHTTP1
import Testing

@testable import S3Signing

@Suite("Signing for the backend")
struct SigV4SignerTests {
    let cache = SigningKeyCache()
    let date = AmzDate(iso8601Basic: "20261203T090000Z")!

    func signer(sessionToken: String? = nil) -> SigV4Signer {
        SigV4Signer(
            accessKey: "BACKENDKEY", secretKey: "backend-secret", sessionToken: sessionToken, region: "eu-west-1",
            keyCache: cache)
    }

    @Test(
        "the headers a signature sets are replaced, never doubled, whatever the request already carried",
        arguments: [nil, "session-token"] as [String?])
    func setHeadersReplaced(sessionToken: String?) throws {
        var headers = makeHeaders([
            ("Host", "backend.example.com"), ("Authorization", "AWS4-HMAC-SHA256 Credential=CLIENT/x"),
            ("X-Amz-Date", "20200101T000000Z"), ("x-amz-content-sha256", "STALE"),
            ("X-Amz-Security-Token", "client-token"), ("x-amz-meta-kept", "yes"),
        ])
        let signature = signer(sessionToken: sessionToken).signHeaders(
            method: "PUT", rawPath: "/bucket/key", rawQuery: "", headers: &headers, payloadHash: "UNSIGNED-PAYLOAD",
            date: date)

        #expect(headers["authorization"].count == 1)
        #expect(headers["x-amz-date"] == [date.amzDate])
        #expect(headers["x-amz-content-sha256"] == ["UNSIGNED-PAYLOAD"])
        #expect(headers["x-amz-security-token"] == (sessionToken.map { [$0] } ?? []))
        #expect(headers["x-amz-meta-kept"] == ["yes"])
        let tokenHeader = sessionToken == nil ? "" : ";x-amz-security-token"
        #expect(
            headers["authorization"].first
                == "AWS4-HMAC-SHA256 Credential=BACKENDKEY/20261203/eu-west-1/s3/aws4_request, "
                + "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-kept\(tokenHeader), Signature=\(signature)")

        // The backend's own check: what was signed verifies under the backend's secret.
        let request = IncomingRequest(method: "PUT", rawPath: "/bucket/key", rawQuery: "", headers: headers)
        let verified = try RequestVerifier(keyCache: cache).verify(
            ClientAuthentication.parse(headers: headers, rawQuery: ""), request: request, secretKey: "backend-secret",
            now: date)
        #expect(verified.accessKey == "BACKENDKEY")
    }

    @Test(
        "Trimall: values copied as they are when already trimmed, trimmed and collapsed otherwise",
        arguments: [
            ("a b", "a b"), ("a", "a"), ("", ""), ("   ", ""), (" a", "a"), ("a ", "a"), ("a  b", "a b"),
            ("a\tb", "a b"), ("\ta", "a"), (" a \t b ", "a b"), ("ü ß", "ü ß"),
        ])
    func trimAll(value: String, trimmed: String) {
        #expect(SigV4Canonical.trimAll(value) == trimmed)
    }
}

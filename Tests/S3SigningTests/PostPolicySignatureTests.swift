import Crypto
import Testing

@testable import S3Signing

@Suite("POST policy signatures (browser form uploads)")
struct PostPolicySignatureTests {
    /// The POST policy and signature of AWS's "Example: Browser-based upload using HTTP POST (using
    /// AWS Signature Version 4)" (S3 API reference, sigv4-post-example).
    static let awsPolicy = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9"
    static let awsSignature = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"

    static func fields(_ pairs: [String: String]) -> (String) -> String? {
        { pairs[$0] }
    }

    static let awsFields: [String: String] = [
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
        "x-amz-date": "20151229T000000Z",
        "x-amz-signature": awsSignature,
    ]

    @Test("AWS's documented SigV4 POST example verifies, and any change to policy, signature or secret does not")
    func awsExample() throws {
        let signature = try #require(try PostPolicySignature.parse(field: Self.fields(Self.awsFields)))
        #expect(signature.accessKey == AWSExample.accessKey)
        let cache = SigningKeyCache()
        #expect(signature.verifies(policy: Self.awsPolicy, secretKey: AWSExample.secretKey, keyCache: cache))
        #expect(!signature.verifies(policy: Self.awsPolicy, secretKey: AWSExample.secretKey + "x", keyCache: cache))
        var tamperedPolicy = Array(Self.awsPolicy.utf8)
        tamperedPolicy[40] = tamperedPolicy[40] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(!signature.verifies(policy: String(decoding: tamperedPolicy, as: UTF8.self), secretKey: AWSExample.secretKey, keyCache: cache))
        let other = try #require(try PostPolicySignature.parse(field: Self.fields([
            "x-amz-algorithm": "AWS4-HMAC-SHA256",
            "x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request",
            "x-amz-date": "20151229T000000Z",
            "x-amz-signature": String(Self.awsSignature.dropLast()) + "f",
        ])))
        #expect(!other.verifies(policy: Self.awsPolicy, secretKey: AWSExample.secretKey, keyCache: cache))
        #expect(
            PostPolicySignature.sigV4Signature(
                policy: Self.awsPolicy, secretKey: AWSExample.secretKey, dateStamp: "20151229", region: "us-east-1",
                service: "s3", keyCache: cache) == Self.awsSignature)
    }

    @Test("a SigV2 form: base64 HMAC-SHA1 of the policy under the secret itself")
    func sigV2() throws {
        let policy = Base64.encode(Array(#"{"expiration":"2030-01-01T00:00:00Z","conditions":[]}"#.utf8))
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(policy.utf8), using: SymmetricKey(data: Array("secret".utf8)))
        let good = Base64.encode(Array(mac))
        let signature = try #require(try PostPolicySignature.parse(field: Self.fields(["awsaccesskeyid": "AK", "signature": good])))
        #expect(signature == .sigV2(accessKey: "AK", signature: good))
        #expect(signature.verifies(policy: policy, secretKey: "secret", keyCache: SigningKeyCache()))
        #expect(!signature.verifies(policy: policy, secretKey: "Secret", keyCache: SigningKeyCache()))
    }

    @Test("a form without any signature field is anonymous (nil)")
    func anonymous() throws {
        #expect(try PostPolicySignature.parse(field: Self.fields(["key": "a", "policy": "e30="])) == nil)
    }

    @Test(
        "signature fields that do not add up are InvalidArgument",
        arguments: [
            ["x-amz-algorithm": "AWS4-HMAC-SHA1", "x-amz-credential": "AK/20151229/us-east-1/s3/aws4_request", "x-amz-date": "20151229T000000Z", "x-amz-signature": "00"],
            ["x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-date": "20151229T000000Z", "x-amz-signature": "00"],
            ["x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": "AK/20151229/us-east-1/s3/aws4_request", "x-amz-signature": "00"],
            ["x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": "AK/20151229/us-east-1/s3/aws4_request", "x-amz-date": "20151229T000000Z"],
            ["x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": "AK/20151229/us-east-1/sts/aws4_request", "x-amz-date": "20151229T000000Z", "x-amz-signature": "00"],
            ["x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": "AK/2015122/us-east-1/s3/aws4_request", "x-amz-date": "20151229T000000Z", "x-amz-signature": "00"],
            ["x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": "/20151229/us-east-1/s3/aws4_request", "x-amz-date": "20151229T000000Z", "x-amz-signature": "00"],
            // The date must be the credential's day.
            ["x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": "AK/20151229/us-east-1/s3/aws4_request", "x-amz-date": "20151230T000000Z", "x-amz-signature": "00"],
            ["awsaccesskeyid": "AK"],
            ["signature": "abc="],
            ["awsaccesskeyid": "AK", "signature": "abc=", "x-amz-signature": "00"],
        ])
    func malformed(_ pairs: [String: String]) {
        expectS3Error(.invalidArgument) { try PostPolicySignature.parse(field: Self.fields(pairs)) }
    }

    @Test("base64 decodes what it encodes, and refuses what is not padded standard base64")
    func base64() {
        for length in 0..<10 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 200) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        #expect(Base64.decode("eyJhIjoxfQ==") == Array(#"{"a":1}"#.utf8))
        for bad in ["eyJhIjoxfQ", "eyJhIjoxfQ=", "ey=hIjoxfQ==", "eyJhIjoxfQ==\n", "eyJh-joxfQ==", "eyJhIjoxfR==", "===="] {
            #expect(Base64.decode(bad) == nil, "\(bad)")
        }
    }
}

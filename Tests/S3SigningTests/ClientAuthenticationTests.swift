import Foundation
import NIOHTTP1
import Testing

@testable import S3Signing

@Suite("Parsing the client's authentication")
struct ClientAuthenticationTests {
    let signature = String(repeating: "ab", count: 32)

    @Test("a SigV4 Authorization header parses with or without spaces, parameters in any order")
    func sigV4Header() throws {
        for value in [
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-date, Signature=\(signature)",
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-date,Signature=\(signature)",
            "AWS4-HMAC-SHA256 Signature=\(signature), SignedHeaders=host;range;x-amz-date,Credential=AK/20130524/us-east-1/s3/aws4_request",
        ] {
            let auth = try ClientAuthentication.parse(headers: makeHeaders([("Authorization", value)]), rawQuery: "")
            let expected = SigV4Authorization(
                accessKey: "AK", dateStamp: "20130524", region: "us-east-1", service: "s3",
                signedHeaders: ["host", "range", "x-amz-date"], signature: signature)
            #expect(auth == .sigV4Header(expected))
            #expect(auth.accessKey == "AK")
            #expect(expected.scope == "20130524/us-east-1/s3/aws4_request")
        }
    }

    @Test(
        "malformed SigV4 Authorization headers are AuthorizationHeaderMalformed",
        arguments: [
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws5_request, SignedHeaders=host, Signature=SIG",
            "AWS4-HMAC-SHA256 Credential=AK/2013052/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=SIG",
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/aws4_request, SignedHeaders=host, Signature=SIG",
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=range;x-amz-date, Signature=SIG",
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=xyz",
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=SIG, Extra=1",
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=SIG",
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=SIG, Signature=SIG",
            "AWS4-HMAC-SHA256 garbage",
            "Bearer token",
        ])
    func malformedHeader(value: String) {
        let value = value.replacingOccurrences(of: "SIG", with: signature)
        expectS3Error(.authorizationHeaderMalformed) {
            try ClientAuthentication.parse(headers: makeHeaders([("Authorization", value)]), rawQuery: "")
        }
    }

    @Test("a presigned SigV4 query parses, including an optional security token")
    func presignedQuery() throws {
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Security-Token=tok%2Ben&X-Amz-Signature=\(signature)"
        let auth = try ClientAuthentication.parse(headers: HTTPHeaders(), rawQuery: query)
        guard case .sigV4Query(let presigned) = auth else {
            Issue.record("expected .sigV4Query, got \(auth)")
            return
        }
        #expect(presigned.accessKey == "AK")
        #expect(presigned.amzDate == AmzDate(iso8601Basic: "20130524T000000Z"))
        #expect(presigned.expiresSeconds == 86400)
        #expect(presigned.signedHeaders == ["host"])
        #expect(presigned.securityToken == "tok+en")
        #expect(presigned.signature == signature)
    }

    @Test(
        "broken presigned parameters are AuthorizationQueryParametersError",
        arguments: [
            "X-Amz-Expires=soon", "X-Amz-Expires=-1", "X-Amz-Expires=604801", "X-Amz-Date=2013-05-24",
            "X-Amz-Algorithm=AWS4-HMAC-SHA1", "X-Amz-Credential=AK", "X-Amz-SignedHeaders=range", "X-Amz-Signature=00",
        ])
    func brokenPresignedQuery(replacement: String) {
        var parameters = [
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": "AK%2F20130524%2Fus-east-1%2Fs3%2Faws4_request",
            "X-Amz-Date": "20130524T000000Z", "X-Amz-Expires": "86400", "X-Amz-SignedHeaders": "host",
            "X-Amz-Signature": signature,
        ]
        let parts = replacement.split(separator: "=", maxSplits: 1).map(String.init)
        parameters[parts[0]] = parts[1]
        let query = parameters.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        expectS3Error(.authorizationQueryParametersError) {
            try ClientAuthentication.parse(headers: HTTPHeaders(), rawQuery: query)
        }
    }

    @Test("presigned signed headers are trimmed and lowercased; the credential is split from its end")
    func presignedFieldsFromBytes() throws {
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2FWITH%2FSLASH%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=Host%3B%20X-Amz-Date%09&X-Amz-Signature=\(signature.uppercased())"
        guard case .sigV4Query(let presigned) = try ClientAuthentication.parse(headers: HTTPHeaders(), rawQuery: query) else {
            Issue.record("expected .sigV4Query")
            return
        }
        #expect(presigned.accessKey == "AK/WITH/SLASH")
        #expect(presigned.dateStamp == "20130524")
        #expect(presigned.region == "us-east-1")
        #expect(presigned.service == "s3")
        #expect(presigned.signedHeaders == ["host", "x-amz-date"])
        #expect(presigned.signature == signature.uppercased())
    }

    @Test(
        "presigned signed headers with an empty name, or without host, are refused",
        arguments: ["host%3B%3Bx-amz-date", "%3Bhost", "host%3B", "%20", "x-amz-date", "hostx"])
    func brokenSignedHeaders(list: String) {
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=\(list)&X-Amz-Signature=\(signature)"
        expectS3Error(.authorizationQueryParametersError) {
            try ClientAuthentication.parse(headers: HTTPHeaders(), rawQuery: query)
        }
    }

    @Test("a presigned query without X-Amz-Signature is refused")
    func presignedWithoutSignature() {
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host"
        expectS3Error(.authorizationQueryParametersError) {
            try ClientAuthentication.parse(headers: HTTPHeaders(), rawQuery: query)
        }
    }

    @Test("SigV2 header and query forms parse; the query signature is URL-decoded")
    func sigV2() throws {
        #expect(
            try ClientAuthentication.parse(headers: makeHeaders([("Authorization", "AWS AKID:c2ln+/=")]), rawQuery: "")
                == .sigV2Header(accessKey: "AKID", signature: "c2ln+/="))
        #expect(
            try ClientAuthentication.parse(headers: HTTPHeaders(), rawQuery: "AWSAccessKeyId=AKID&Expires=1175139620&Signature=c2ln%2B%2F%3D")
                == .sigV2Query(accessKey: "AKID", signature: "c2ln+/=", expires: 1175139620))
        expectS3Error(.accessDenied) {
            try ClientAuthentication.parse(headers: HTTPHeaders(), rawQuery: "AWSAccessKeyId=AKID&Expires=tomorrow&Signature=x")
        }
        expectS3Error(.authorizationHeaderMalformed) {
            try ClientAuthentication.parse(headers: makeHeaders([("Authorization", "AWS AKID")]), rawQuery: "")
        }
    }

    @Test("a header and a query signature together are refused: only one auth mechanism is allowed")
    func twoMechanisms() {
        let error = expectS3Error(.invalidArgument) {
            try ClientAuthentication.parse(
                headers: makeHeaders([("Authorization", "AWS AKID:sig")]),
                rawQuery: "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=\(signature)")
        }
        #expect(error?.message.hasPrefix("Only one auth mechanism allowed") == true)
    }

    @Test("no credentials at all is anonymous, whatever else the query holds")
    func anonymous() throws {
        let auth = try ClientAuthentication.parse(headers: makeHeaders([("Host", "h")]), rawQuery: "prefix=a&list-type=2")
        #expect(auth == .anonymous)
        #expect(auth.accessKey == nil)
    }

    @Test("SigV4a is refused as not implemented rather than misparsed")
    func sigV4a() {
        expectS3Error(.notImplemented) {
            try ClientAuthentication.parse(headers: makeHeaders([("Authorization", "AWS4-ECDSA-P256-SHA256 Credential=x")]), rawQuery: "")
        }
    }
}

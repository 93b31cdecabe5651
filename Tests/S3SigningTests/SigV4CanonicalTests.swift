import Crypto
import NIOHTTP1
import Testing

@testable import S3Signing

@Suite("SigV4 canonical request pieces")
struct SigV4CanonicalTests {
    @Test("uriEncode keeps only A-Za-z0-9-._~ and encodes UTF-8 bytes as uppercase %XX")
    func uriEncode() {
        #expect(SigV4Canonical.uriEncode("AZaz09-._~", encodeSlash: true) == "AZaz09-._~")
        #expect(SigV4Canonical.uriEncode("a b+c/d", encodeSlash: true) == "a%20b%2Bc%2Fd")
        #expect(SigV4Canonical.uriEncode("a b+c/d", encodeSlash: false) == "a%20b%2Bc/d")
        #expect(SigV4Canonical.uriEncode("@():,;$!*'=&", encodeSlash: true) == "%40%28%29%3A%2C%3B%24%21%2A%27%3D%26")
        #expect(SigV4Canonical.uriEncode("ü日本", encodeSlash: true) == "%C3%BC%E6%97%A5%E6%9C%AC")
    }

    @Test("percentDecode leaves '+' alone and refuses broken escapes")
    func percentDecode() {
        #expect(SigV4Canonical.percentDecode("a+b%20c%2b") == "a+b c+")
        #expect(SigV4Canonical.percentDecode("%C3%BC") == "ü")
        #expect(SigV4Canonical.percentDecode("100%") == nil)
        #expect(SigV4Canonical.percentDecode("%zz") == nil)
        #expect(SigV4Canonical.percentDecode("%4") == nil)
    }

    @Test(
        "the canonical URI is the path as sent, encoded exactly once and never normalised",
        arguments: [
            ("", "/"),
            ("/", "/"),
            ("/bucket/key", "/bucket/key"),
            ("/bucket/a%2bb", "/bucket/a%2Bb"),
            ("/bucket/a+b", "/bucket/a%2Bb"),
            ("/bucket/a%20b", "/bucket/a%20b"),
            ("/bucket/(x)", "/bucket/%28x%29"),
            ("/bucket/%40@", "/bucket/%40%40"),
            ("/bucket/=&:,;$!*'", "/bucket/%3D%26%3A%2C%3B%24%21%2A%27"),
            ("/bucket//a/./b/../c", "/bucket//a/./b/../c"),
            ("/bucket/dir/", "/bucket/dir/"),
            ("/bucket/%C3%BC", "/bucket/%C3%BC"),
            ("/bucket/ü日本", "/bucket/%C3%BC%E6%97%A5%E6%9C%AC"),
            ("/bucket/a%2Fb", "/bucket/a%2Fb"),
            ("/bucket/100%", "/bucket/100%25"),
            ("/bucket/%zz", "/bucket/%25zz"),
            ("/bucket/~tilde", "/bucket/~tilde"),
            ("/bucket/%7E", "/bucket/~"),
        ])
    func canonicalURI(rawPath: String, expected: String) {
        #expect(SigV4Canonical.canonicalURI(rawPath: rawPath) == expected)
    }

    @Test(
        "the canonical query decodes, re-encodes and sorts by name then value",
        arguments: [
            ("", ""),
            ("acl", "acl="),
            ("uploads&prefix=a", "prefix=a&uploads="),
            ("prefix=a b", "prefix=a%20b"),
            ("prefix=a+b", "prefix=a%2Bb"),
            ("prefix=a%2bb", "prefix=a%2Bb"),
            ("delimiter=/&prefix=photos/2024/", "delimiter=%2F&prefix=photos%2F2024%2F"),
            ("b=2&a=3&a=1&a=", "a=&a=1&a=3&b=2"),
            ("tag=k=v", "tag=k%3Dv"),
            ("&&x=1&", "x=1"),
            ("prefix=%C3%BC&prefix=日本", "prefix=%C3%BC&prefix=%E6%97%A5%E6%9C%AC"),
            ("Z=1&a=1&_=1", "Z=1&_=1&a=1"),
            ("k=%zz", "k=%25zz"),
        ])
    func canonicalQuery(rawQuery: String, expected: String) {
        #expect(SigV4Canonical.canonicalQuery(rawQuery: rawQuery) == expected)
    }

    @Test("excluded names (X-Amz-Signature) are dropped, however they were encoded")
    func canonicalQueryExcluding() {
        let query = "X-Amz-Signature=abc&a=1&X-Amz-Date=20130524T000000Z"
        #expect(SigV4Canonical.canonicalQuery(rawQuery: query, excluding: ["X-Amz-Signature"]) == "X-Amz-Date=20130524T000000Z&a=1")
    }

    @Test("canonical headers trim, collapse inner spaces, join repeats with ',' and report what is missing")
    func canonicalHeaders() {
        let headers = makeHeaders([
            ("Host", "example.com"), ("X-Amz-Meta-A", "  two   spaces  "), ("x-amz-meta-b", "first"),
            ("X-Amz-Meta-B", " second  value "), ("x-amz-meta-tab", "a\t\tb"),
        ])
        let result = SigV4Canonical.canonicalHeaders(
            headers, signedHeaders: ["host", "x-amz-meta-a", "x-amz-meta-b", "x-amz-meta-tab"])
        #expect(result.canonical == "host:example.com\nx-amz-meta-a:two spaces\nx-amz-meta-b:first,second value\nx-amz-meta-tab:a b\n")
        #expect(result.missing == nil)
        let missing = SigV4Canonical.canonicalHeaders(headers, signedHeaders: ["host", "range", "x-amz-date"])
        #expect(missing.missing == "range")
    }

    @Test("the canonical request and string to sign have the documented line structure")
    func canonicalRequestLayout() {
        let request = SigV4Canonical.canonicalRequest(
            method: "GET", canonicalURI: "/test.txt", canonicalQuery: "", canonicalHeaders: "host:h\nx-amz-date:d\n",
            signedHeaders: ["host", "x-amz-date"], payloadHash: "UNSIGNED-PAYLOAD")
        #expect(request == "GET\n/test.txt\n\nhost:h\nx-amz-date:d\n\nhost;x-amz-date\nUNSIGNED-PAYLOAD")
        #expect(
            SigV4Canonical.stringToSign(amzDate: "20130524T000000Z", scope: "s", canonicalRequestHash: "h")
                == "AWS4-HMAC-SHA256\n20130524T000000Z\ns\nh")
    }

    @Test(
        "the hashed canonical request verifier and signer use is the documented canonical request, byte for byte",
        arguments: [
            ("/b/k%2Bplus/(x)", "prefix=a%2Fb&list-type=2&X-Amz-Signature=abc&X-Amz-Signatur%65=dup", true),
            ("/b/%E2%82%AC/a b", "uploads&partNumber=1&uploadId=x%3Dy", false),
            ("", "", false),
        ])
    func hashedCanonicalRequest(rawPath: String, rawQuery: String, excludingSignature: Bool) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "example.com")
        headers.add(name: "X-Amz-Meta-Tag", value: "  two   words ")
        headers.add(name: "x-amz-meta-tag", value: "second")
        headers.add(name: "X-Amz-Date", value: "20130524T000000Z")
        let signed = ["host", "x-amz-date", "x-amz-meta-tag"]
        let hashed = SigV4Canonical.canonicalRequestHash(
            method: "PUT", rawPath: rawPath, rawQuery: rawQuery, excludingSignatureParameter: excludingSignature,
            headers: headers, signedHeaders: signed, payloadHash: "UNSIGNED-PAYLOAD")
        let documented = SigV4Canonical.canonicalRequest(
            method: "PUT", canonicalURI: SigV4Canonical.canonicalURI(rawPath: rawPath),
            canonicalQuery: SigV4Canonical.canonicalQuery(rawQuery: rawQuery, excluding: excludingSignature ? ["X-Amz-Signature"] : []),
            canonicalHeaders: SigV4Canonical.canonicalHeaders(headers, signedHeaders: signed).canonical,
            signedHeaders: signed, payloadHash: "UNSIGNED-PAYLOAD")
        #expect(Array(hashed.hash) == Array(SHA256.hash(data: Array(documented.utf8))))
        #expect(!hashed.missingSignedHeader)
        #expect(documented.contains("x-amz-meta-tag:two words,second\n"))
        if excludingSignature { #expect(!documented.contains("Signatur")) }

        let missing = SigV4Canonical.canonicalRequestHash(
            method: "PUT", rawPath: rawPath, rawQuery: rawQuery, excludingSignatureParameter: excludingSignature,
            headers: headers, signedHeaders: ["content-md5", "host"], payloadHash: "UNSIGNED-PAYLOAD")
        #expect(missing.missingSignedHeader)
    }

    @Test("encoding raw bytes canonically is decoding them and encoding every byte, for 20,000 random inputs")
    func canonicalEncodingMatchesItsDefinition() {
        // An alphabet dense in what the run-copying encoder decides on: escapes in both hex cases,
        // escapes of unreserved bytes, broken escapes, slashes, reserved and non-ASCII bytes.
        let alphabet: [UInt8] = Array("%%%2F2f41aZ9-._~+ /=&E".utf8) + [0xC3, 0xBC, 0x00, 0x7F]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let raw = (0..<Int.random(in: 0...12, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            var expected: [UInt8] = []
            SigV4Canonical.appendEncoded(SigV4Canonical.percentDecodedBytes(raw, lenient: true)!, encodeSlash: true, to: &expected)
            var actual: [UInt8] = []
            SigV4Canonical.appendCanonicalEncoding(raw, keepingRawSlash: false, to: &actual)
            #expect(actual == expected, "\(raw)")

            // Keeping raw slashes: each segment between raw `/` is encoded on its own.
            var segments: [UInt8] = []
            for (index, segment) in raw.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).enumerated() {
                if index > 0 { segments.append(UInt8(ascii: "/")) }
                SigV4Canonical.appendEncoded(SigV4Canonical.percentDecodedBytes(segment, lenient: true)!, encodeSlash: true, to: &segments)
            }
            var path: [UInt8] = []
            SigV4Canonical.appendCanonicalEncoding(raw, keepingRawSlash: true, to: &path)
            #expect(path == segments, "\(raw)")
        }
    }
}

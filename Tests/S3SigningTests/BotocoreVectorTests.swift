import Foundation
import NIOHTTP1
import Testing

@testable import S3Signing

/// Requests signed by botocore (Resources/botocore-vectors.json, written by botocore_vectors.py):
/// an independent implementation of SigV4 and SigV2 agreeing with ours on awkward keys, queries and
/// headers.
@Suite("botocore cross-check")
struct BotocoreVectorTests {
    struct Vector: Decodable, CustomTestStringConvertible {
        var kind: String
        var method: String
        var path: String
        var query: String
        var headers: [[String]]
        var secret: String
        var now: Int64
        var sigV2ResourcePath: String?
        var valid: Bool

        var testDescription: String { "\(kind) \(method) \(path)?\(query)" }

        var request: IncomingRequest {
            var httpHeaders = HTTPHeaders()
            for pair in headers {
                httpHeaders.add(name: pair[0], value: pair[1])
            }
            return IncomingRequest(method: method, rawPath: path, rawQuery: query, headers: httpHeaders)
        }
    }

    struct File: Decodable {
        var vectors: [Vector]
    }

    static let vectors: [Vector] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Resources/botocore-vectors.json")
        guard let data = try? Data(contentsOf: url), let file = try? JSONDecoder().decode(File.self, from: data) else {
            return []
        }
        return file.vectors
    }()

    let verifier = RequestVerifier(keyCache: SigningKeyCache())

    func verify(_ vector: Vector, request: IncomingRequest, resourcePath: String?) throws -> VerifiedRequest {
        let auth = try ClientAuthentication.parse(headers: request.headers, rawQuery: request.rawQuery)
        return try verifier.verify(
            auth, request: request, secretKey: vector.secret, now: AmzDate(secondsSinceEpoch: vector.now),
            sigV2ResourcePath: resourcePath)
    }

    @Test("the vector file is there and covers every kind of authentication")
    func coverage() {
        #expect(Self.vectors.count >= 300)
        let kinds = Set(Self.vectors.map(\.kind))
        #expect(kinds == ["sigv4-header", "sigv4-query", "sigv2-header", "sigv2-query"])
    }

    @Test("every botocore-signed request verifies", arguments: vectors)
    func verifies(vector: Vector) throws {
        let verified = try verify(vector, request: vector.request, resourcePath: vector.sigV2ResourcePath)
        #expect(verified.version == (vector.kind.hasPrefix("sigv4") ? .v4 : .v2))
        #expect(verified.isPresigned == vector.kind.hasSuffix("query"))
    }

    @Test("a botocore-signed request with one signature character flipped fails", arguments: vectors)
    func flippedSignature(vector: Vector) throws {
        var request = vector.request
        if vector.kind.hasSuffix("header") {
            var authorization = Array(request.headers.first(name: "authorization")!.utf8)
            let last = authorization.count - 2  // not the base64 padding
            authorization[last] = authorization[last] == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a")
            request.headers.replaceOrAdd(name: "Authorization", value: String(decoding: authorization, as: UTF8.self))
        } else {
            let name = vector.kind == "sigv4-query" ? "X-Amz-Signature=" : "Signature="
            let range = try #require(request.rawQuery.range(of: "&" + name) ?? request.rawQuery.range(of: name))
            var query = Array(request.rawQuery.utf8)
            let at = request.rawQuery.utf8.distance(from: request.rawQuery.startIndex, to: range.upperBound)
            query[at] = query[at] == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a")
            request.rawQuery = String(decoding: query, as: UTF8.self)
        }
        expectS3Error(.signatureDoesNotMatch) { try verify(vector, request: request, resourcePath: vector.sigV2ResourcePath) }
    }

    @Test("a botocore-signed request with one path character changed fails", arguments: vectors)
    func flippedPath(vector: Vector) throws {
        var request = vector.request
        var resourcePath = vector.sigV2ResourcePath
        func flip(_ path: String) -> String {
            var bytes = Array(path.utf8)
            let at = bytes.count - 1
            bytes[at] = bytes[at] == UInt8(ascii: "Z") ? UInt8(ascii: "Y") : UInt8(ascii: "Z")
            return String(decoding: bytes, as: UTF8.self)
        }
        if let path = resourcePath {
            resourcePath = flip(path)
        } else {
            request.rawPath = flip(request.rawPath)
        }
        expectS3Error(.signatureDoesNotMatch) { try verify(vector, request: request, resourcePath: resourcePath) }
    }
}

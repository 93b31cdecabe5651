import Crypto
import NIOCore
import Testing

@testable import S3Signing

@Suite("Payload hash: the body against its x-amz-content-sha256")
struct PayloadHashCheckTests {
    static let body = Array("The quick brown fox jumps over the lazy dog, twice over: the quick brown fox.".utf8)
    static let hex = SHA256.hash(data: body).map { String(format: "%02x", $0) }.joined()

    /// Feeds `bytes` in reads of `chunk`; the index of the read that was refused (reads.count for
    /// `finish`), or nil when the body matched.
    static func refusedRead(_ bytes: [UInt8], chunk: Int, hex: String = hex, declared: Int64?) -> Int? {
        var check = PayloadHashCheck(sha256Hex: hex, declaredLength: declared)
        let reads = stride(from: 0, to: bytes.count, by: chunk).map { Array(bytes[$0..<min($0 + chunk, bytes.count)]) }
        for (index, read) in reads.enumerated() {
            do { try check.consume(ByteBuffer(bytes: read)) } catch {
                #expect(error == PayloadHashCheck.mismatch)
                return index
            }
        }
        do { try check.finish() } catch { return reads.count }
        return nil
    }

    @Test("the signed body passes however it is read, with or without a declared length, in either hex case", arguments: [1, 7, 64, 1000])
    func matches(chunk: Int) {
        #expect(Self.refusedRead(Self.body, chunk: chunk, declared: Int64(Self.body.count)) == nil)
        #expect(Self.refusedRead(Self.body, chunk: chunk, declared: nil) == nil)
        #expect(Self.refusedRead(Self.body, chunk: chunk, hex: Self.hex.uppercased(), declared: Int64(Self.body.count)) == nil)
    }

    @Test("a body changed anywhere is refused by the read that completes its declared length, before that read goes on", arguments: [1, 7, 64, 1000])
    func refusedWithTheLastRead(chunk: Int) {
        let lastRead = (Self.body.count - 1) / chunk
        for position in [0, Self.body.count / 2, Self.body.count - 1] {
            var changed = Self.body
            changed[position] ^= 0x20
            #expect(Self.refusedRead(changed, chunk: chunk, declared: Int64(changed.count)) == lastRead, "byte \(position)")
        }
    }

    @Test("a chunked body (no declared length) is judged when it ends; a truncated or extended one is refused")
    func unknownLength() {
        var changed = Self.body
        changed[3] ^= 0x01
        let reads = (Self.body.count + 9) / 10
        #expect(Self.refusedRead(changed, chunk: 10, declared: nil) == reads)
        #expect(Self.refusedRead(Array(Self.body.dropLast()), chunk: 10, declared: nil) != nil)
        #expect(Self.refusedRead(Self.body + [0x0A], chunk: 10, declared: nil) != nil)
    }

    @Test("a request without a body must carry the empty body's hash")
    func emptyBody() {
        #expect(PayloadHashCheck.matchesEmptyBody(sha256Hex: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
        #expect(PayloadHashCheck.matchesEmptyBody(sha256Hex: "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"))
        #expect(!PayloadHashCheck.matchesEmptyBody(sha256Hex: Self.hex))
        #expect(PayloadHashCheck.emptyBodySHA256 == SHA256.hash(data: [UInt8]()).map { String(format: "%02x", $0) }.joined())
        #expect(PayloadHashCheck.mismatch.code.httpStatus == 400)
    }
}

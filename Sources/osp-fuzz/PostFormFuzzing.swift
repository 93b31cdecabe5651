import NIOCore
import NIOHTTP1
import OSPCore
import S3Signing

/// The POST Object target: the input is one line naming the form's boundary, then the body of a
/// browser form upload. osp reads that form before it knows who sent it, so the reader must hold
/// up on its own. Besides not crashing: read whole and read in pieces (sized from the input) it
/// is accepted or refused alike, and accepted it is the same form; it never keeps more than its
/// bound; and the form osp would send the backend, read back, names the same key, file and
/// fields under a policy that holds for it — nothing the client sent can shift what the
/// backend reads.
enum PostFormFuzzing {
    static let credentials = BackendCredentials(accessKey: "BACKEND", secretKey: "backend-secret")
    static let bucket = BucketRoute(name: "photos", host: "backend.local", port: 9000, backendBucket: "real-photos")
    static let keyCache = SigningKeyCache()
    static let now = AmzDate(iso8601Basic: "20130524T000000Z")!

    static func run(_ input: [UInt8]) -> FuzzOutcome {
        guard let newline = input.firstIndex(of: UInt8(ascii: "\n")) else { return .refused("no boundary line") }
        let contentType = "multipart/form-data; boundary=" + String(decoding: input[..<newline], as: UTF8.self)
        let body = Array(input[(newline + 1)...])
        let whole = read(body, contentType: contentType, piece: max(body.count, 1))
        let pieces = read(body, contentType: contentType, piece: 1 + body.count % 13)
        guard case .success(let (form, remainder)) = whole else {
            invariant(!pieces.isSuccess, "refused whole, accepted in pieces")
            return .refused("\(whole)")
        }
        guard case .success(let (splitForm, _)) = pieces else {
            invariant(false, "accepted whole, refused in pieces: \(pieces)")
            return .refused("")
        }
        invariant(splitForm == form, "read in pieces as another form")
        invariant(form.preambleLength <= PostObjectFormReader.maximumPreambleBytes, "kept \(form.preambleLength) bytes")
        invariant(remainder == Array(body[form.preambleLength...]), "the file's content does not start where the form ends")
        invariant(Array(body[..<form.preambleLength].suffix(form.filePartHead.count)) == form.filePartHead, "the file part head is not the body's")
        invariant(Set(form.fields.map(\.lowercasedName)).count == form.fields.count, "a field twice")
        let tailWhole = tail(remainder, delimiter: form.delimiter, piece: max(remainder.count, 1))
        let tailPieces = tail(remainder, delimiter: form.delimiter, piece: 1 + remainder.count % 7)
        invariant(tailWhole.refusal == tailPieces.refusal,
                  "the file's end read whole (\(tailWhole.refusal ?? "closed")) and in pieces (\(tailPieces.refusal ?? "closed")) differ")
        if tailWhole.refusal == nil {
            // Closed: the first delimiter after the file part's head is the close, and the file is
            // what precedes its CRLF — counted the same however the reads fell.
            // (When the delimiter follows the part's head at once, the head's CRLF is the
            // delimiter's and the file is empty.)
            let close = remainder.indices.first { remainder[$0...].starts(with: form.delimiter) }
            let expected = close.map { Int64(max(0, $0 - 2)) }
            invariant(expected == tailWhole.fileBytes, "counted a \(tailWhole.fileBytes)-byte file, not \(expected ?? -1)")
            invariant(tailPieces.fileBytes == tailWhole.fileBytes, "the file's size read in pieces differs")
        }

        if let policyText = form.value(of: "policy"), let policy = try? PostPolicy(base64: policyText) {
            _ = try? policy.check(form, bucket: "photos", now: now)
        }
        guard let key = try? PostObjectUpload.key(of: form) else { return .accepted("\(form.fields.count) fields, no key") }
        let upload = PostObjectUpload(form: form, key: key, policy: PostPolicy(expiration: now, conditions: []), clientBucket: "photos")
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/photos")
        head.headers.add(name: "content-type", value: contentType)
        head.headers.add(name: "content-length", value: String(body.count))
        let forwarded: ByteBuffer
        var boundariesWritten = 0
        do {
            var (backendHead, preamble) = try upload.backendRequest(
                clientHead: head, bucket: bucket, backendBucket: "real-photos", credentials: credentials, keyCache: keyCache, now: now)
            boundariesWritten = Self.occurrences(of: form.delimiter, in: Array(preamble.readableBytesView))
            preamble.writeBytes(remainder)
            invariant(backendHead.headers.first(name: "content-length") == String(preamble.readableBytes), "the backend's length is not its body's")
            backendHead.headers.remove(name: "content-length")
            forwarded = preamble
        } catch {
            // Only a value that holds the boundary (after `${filename}`) is refused here.
            invariant(error.code == .invalidArgument, "an accepted form could not be forwarded: \(error)")
            return .refused(error.message)
        }
        guard case .success(let (backendForm, _)) = read(Array(forwarded.readableBytesView), contentType: contentType, piece: forwarded.readableBytes)
        else {
            invariant(false, "the backend's form does not read back")
            return .refused("")
        }
        invariant(backendForm.value(of: "key") == key, "the backend reads another key")
        // Every boundary osp writes starts a part it wrote (its fields, then the file part's head):
        // none inside a value, where a lenient parser might take it for a line start.
        invariant(boundariesWritten == backendForm.fields.count + 1, "\(boundariesWritten) boundaries written for \(backendForm.fields.count + 1) parts")
        invariant(backendForm.fileName == form.fileName && backendForm.filePartHead == form.filePartHead, "the backend reads another file part")
        for field in form.fields {
            let name = field.lowercasedName
            if PostObjectUpload.withheldFields.contains(name) || name.hasPrefix("x-ignore-") {
                invariant(name == "key" || (backendForm.value(of: name) == nil) == !["x-amz-algorithm", "x-amz-credential", "x-amz-date", "policy", "x-amz-signature"].contains(name),
                    "field \(field.name) of the client's reached the backend")
            } else {
                invariant(backendForm.value(of: name) == field.value, "field \(field.name) changed on the way")
            }
        }
        do {
            let backendPolicy = try PostPolicy(base64: backendForm.value(of: "policy") ?? "")
            try backendPolicy.check(backendForm, bucket: "real-photos", now: AmzDate(secondsSinceEpoch: now.secondsSinceEpoch - 1))
        } catch {
            invariant(false, "the backend's form does not meet its own policy: \(error)")
        }
        return .accepted("\(form.fields.count) fields, key \(key)")
    }

    private static func occurrences(of needle: [UInt8], in bytes: [UInt8]) -> Int {
        var count = 0
        var from = 0
        while let found = PostObjectFormReader.find(needle, in: bytes, from: from) {
            count += 1
            from = found + 1
        }
        return count
    }

    /// How the form after the file ends, read in pieces: no refusal when it closes, and the size
    /// counted for the file.
    private static func tail(_ bytes: [UInt8], delimiter: [UInt8], piece: Int) -> (refusal: String?, fileBytes: Int64) {
        var tail = PostObjectFormTail(delimiter: delimiter, unscanned: 0)
        var index = 0
        do {
            while index < bytes.count {
                let end = min(index + piece, bytes.count)
                try tail.scan(ByteBuffer(bytes: bytes[index..<end]))
                index = end
            }
            try tail.finish()
            return (nil, tail.fileBytes)
        } catch {
            return (error.code.rawValue, tail.fileBytes)
        }
    }

    private static func read(_ body: [UInt8], contentType: String, piece: Int) -> Result<(PostObjectForm, [UInt8]), S3Error> {
        do {
            var reader = try PostObjectFormReader(contentType: contentType)
            var index = 0
            while index < body.count {
                let end = min(index + piece, body.count)
                if case .complete(let form, let remainder) = try reader.append(ByteBuffer(bytes: body[index..<end])) {
                    return .success((form, remainder + body[end...]))
                }
                index = end
            }
            return .failure(S3Error(.incompleteBody, "no file part"))
        } catch {
            return .failure(error)
        }
    }
}

extension Result {
    fileprivate var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}

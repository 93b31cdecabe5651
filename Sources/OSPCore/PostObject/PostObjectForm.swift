import NIOCore
import S3Signing

/// What osp reads of a browser form upload (S3's POST Object) before it decides anything: every
/// field that precedes the `file` part, and that part's own headers. The file's content is never
/// read here — it streams to the backend once the form is proven and allowed.
package struct PostObjectForm: Sendable, Equatable {
    package struct Field: Sendable, Equatable {
        /// As sent (the backend gets it as sent); compared case-insensitively.
        package var name: String
        package var value: String
        package var lowercasedName: String { self.name.lowercased() }
    }

    /// The form's fields before the file, in order, each name once.
    package var fields: [Field]
    /// The `filename` parameter of the file part (what `${filename}` in the key stands for), with
    /// any directory a browser put in front of it removed.
    package var fileName: String
    /// The file part from its delimiter through the blank line after its headers, as sent.
    package var filePartHead: [UInt8]
    /// `--boundary`, which the forwarded form keeps: the file's content and the form's end follow
    /// unchanged.
    package var delimiter: [UInt8]
    /// How many body bytes precede the file's content (the fields and the file part's head).
    package var preambleLength: Int

    /// The value of the field named `name` (lower case).
    package func value(of name: String) -> String? {
        self.fields.first { $0.lowercasedName == name }?.value
    }
}

/// Reads a `multipart/form-data` body up to the first byte of its `file` part, as the bytes
/// arrive, never holding more than `maximumPreambleBytes` of it: the form's fields carry the
/// uploader's credentials, so they must be read before anything is forwarded, but a form that
/// never gets to its file must not make osp buffer without end. Each byte is scanned a bounded
/// number of times however the body is split into reads.
package struct PostObjectFormReader {
    /// S3 refuses forms whose fields before the file exceed 20 KB; osp allows a little more
    /// (a POST policy with many conditions is itself several kilobytes).
    package static let maximumPreambleBytes = 64 * 1024

    package enum Progress: Equatable {
        case needMore
        /// The form up to the file's content; `remainder` is what was read past it (file content).
        case complete(PostObjectForm, remainder: [UInt8])
    }

    private enum Phase {
        /// Expecting `--boundary` at `at` (the body's start, or just after a field's value).
        case delimiter(at: Int)
        /// Searching for the blank line that ends a part's headers, from `scanFrom`.
        case headers(partStart: Int, scanFrom: Int)
        /// Searching for the `CRLF--boundary` that ends the value of field `name`, from `scanFrom`.
        case value(name: String, valueStart: Int, scanFrom: Int)
    }

    private let delimiter: [UInt8]
    private var bytes: [UInt8] = []
    private var phase = Phase.delimiter(at: 0)
    private var fields: [PostObjectForm.Field] = []

    /// - Parameter contentType: the request's `Content-Type`; it must name the boundary.
    package init(contentType: String) throws(S3Error) {
        guard let boundary = Self.boundary(of: contentType) else {
            throw S3Error(.invalidArgument, "A POST form upload needs Content-Type multipart/form-data with a boundary.")
        }
        self.delimiter = Array(("--" + boundary).utf8)
    }

    /// Takes the next bytes of the body.
    package mutating func append(_ buffer: ByteBuffer) throws(S3Error) -> Progress {
        self.bytes.append(contentsOf: buffer.readableBytesView)
        let progress = try self.advance()
        if case .needMore = progress, self.bytes.count > Self.maximumPreambleBytes {
            throw Self.tooLarge
        }
        return progress
    }

    /// What a form that ends (or whose body ends) before a file part gets.
    static let noFile = S3Error(.invalidArgument, "POST requires exactly one file upload per request.")

    private static let tooLarge = S3Error(
        .maxPostPreDataLengthExceeded, "Your POST request fields preceding the upload file were too large.")

    private mutating func advance() throws(S3Error) -> Progress {
        while true {
            switch self.phase {
            case .delimiter(let at):
                // `--boundary` then CRLF (another part) or `--` (the form's end).
                guard self.bytes.count >= at + self.delimiter.count + 2 else { return .needMore }
                guard self.bytes[at..<at + self.delimiter.count].elementsEqual(self.delimiter) else { throw Self.malformed }
                let after = at + self.delimiter.count
                if self.bytes[after] == UInt8(ascii: "-") && self.bytes[after + 1] == UInt8(ascii: "-") {
                    throw Self.noFile
                }
                guard self.bytes[after] == 0x0D && self.bytes[after + 1] == 0x0A else { throw Self.malformed }
                self.phase = .headers(partStart: at, scanFrom: after + 2)
            case .headers(let partStart, let scanFrom):
                let headersStart = partStart + self.delimiter.count + 2
                guard let end = Self.find(Self.blankLine, in: self.bytes, from: scanFrom) else {
                    self.phase = .headers(partStart: partStart, scanFrom: max(scanFrom, self.bytes.count - Self.blankLine.count + 1))
                    return .needMore
                }
                let headers = self.bytes[headersStart..<end]
                guard Self.hasOnlyCRLFLineBreaks(headers), Self.find(self.delimiter, in: headers) == nil else {
                    throw Self.malformed
                }
                let disposition = try Self.disposition(headers: headers)
                // A field name may become a header (a PUT's, or the backend's reading of its own
                // form) and is matched against the names that need permissions of their own
                // (`x-amz-acl`, …): `x-amz-acl ` or `x-amz-acl\t` would be missed here and might be
                // trimmed into `x-amz-acl` by a lenient parser behind osp.
                guard HTTPToken.isValid(disposition.name) else { throw Self.fieldNameNotAToken }
                let contentStart = end + Self.blankLine.count
                if disposition.name.lowercased() == "file" {
                    guard contentStart <= Self.maximumPreambleBytes else { throw Self.tooLarge }
                    let form = PostObjectForm(
                        fields: self.fields,
                        fileName: Self.baseName(disposition.fileName ?? ""),
                        filePartHead: Array(self.bytes[partStart..<contentStart]),
                        delimiter: self.delimiter,
                        preambleLength: contentStart
                    )
                    return .complete(form, remainder: Array(self.bytes[contentStart...]))
                }
                guard !self.fields.contains(where: { $0.lowercasedName == disposition.name.lowercased() }) else {
                    throw S3Error(.invalidArgument, "The POST form names the field \(disposition.name) more than once.")
                }
                self.phase = .value(name: disposition.name, valueStart: contentStart, scanFrom: contentStart)
            case .value(let name, let valueStart, let scanFrom):
                // The boundary ends the value, and may appear nowhere else: a parser that looks for
                // it after a bare LF, or anywhere, must not find a part osp did not see.
                guard let found = Self.find(self.delimiter, in: self.bytes, from: scanFrom) else {
                    self.phase = .value(name: name, valueStart: valueStart, scanFrom: max(scanFrom, self.bytes.count - self.delimiter.count + 1))
                    return .needMore
                }
                let end = found - Self.crlf.count
                guard end >= valueStart, self.bytes[end] == 0x0D, self.bytes[end + 1] == 0x0A else { throw Self.malformed }
                guard let value = String(validating: self.bytes[valueStart..<end], as: UTF8.self) else {
                    throw S3Error(.invalidArgument, "The POST form field \(name) is not UTF-8.")
                }
                self.fields.append(PostObjectForm.Field(name: name, value: value))
                self.phase = .delimiter(at: end + Self.crlf.count)
            }
        }
    }

    private static let malformed = S3Error(.malformedPOSTRequest, "The body of your POST request is not well-formed multipart/form-data.")
    private static let fieldNameNotAToken = S3Error(
        .invalidArgument, "A POST form field name may hold only letters, digits and !#$%&'*+-.^_`|~ (an HTTP token).")
    private static let crlf: [UInt8] = [0x0D, 0x0A]
    private static let blankLine: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]

    /// Where `needle` first occurs in `haystack` at or after `start`.
    package static func find<Bytes: RandomAccessCollection<UInt8>>(_ needle: [UInt8], in haystack: Bytes, from start: Int? = nil) -> Int?
    where Bytes.Index == Int {
        guard haystack.count >= needle.count else { return nil }
        var index = max(haystack.startIndex, start ?? haystack.startIndex)
        let last = haystack.endIndex - needle.count
        while index <= last {
            if haystack[index] == needle[0], haystack[index..<index + needle.count].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    /// Whether every CR in `bytes` starts a CRLF and every LF ends one: a parser that breaks lines
    /// at a bare LF (or CR) must see the same header lines as osp.
    private static func hasOnlyCRLFLineBreaks(_ bytes: ArraySlice<UInt8>) -> Bool {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            switch bytes[index] {
            case 0x0D:
                guard index + 1 < bytes.endIndex, bytes[index + 1] == 0x0A else { return false }
                index += 2
            case 0x0A:
                return false
            default:
                index += 1
            }
        }
        return true
    }

    /// The `name` and `filename` of a part's `Content-Disposition: form-data; name="…"`.
    private static func disposition(headers: ArraySlice<UInt8>) throws(S3Error) -> (name: String, fileName: String?) {
        guard let text = String(validating: headers, as: UTF8.self) else { throw Self.malformed }
        for line in text.split(separator: "\r\n", omittingEmptySubsequences: true) {
            guard let colon = line.firstIndex(of: ":") else { throw Self.malformed }
            guard line[..<colon].lowercased() == "content-disposition" else { continue }
            let parameters = Self.parameters(line[line.index(after: colon)...])
            guard parameters.first?.name.lowercased() == "form-data",
                let name = parameters.first(where: { $0.name.lowercased() == "name" })?.value,
                !name.isEmpty, !name.contains(where: { $0 == "\"" || $0 == "\r" || $0 == "\n" })
            else { throw Self.malformed }
            return (name, parameters.first(where: { $0.name.lowercased() == "filename" })?.value)
        }
        throw Self.malformed
    }

    /// `form-data; name="a"; filename="b"` → [(form-data, nil), (name, a), (filename, b)]. Quoted
    /// values may hold `;`; browsers escape `"` in them as `%22`, so no backslash escapes here.
    private static func parameters(_ text: Substring) -> [(name: String, value: String?)] {
        var result: [(name: String, value: String?)] = []
        var rest = text[...]
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "\t" || $0 == ";" }
            guard !rest.isEmpty else { break }
            let nameEnd = rest.firstIndex { $0 == "=" || $0 == ";" } ?? rest.endIndex
            let name = String(rest[..<nameEnd]).trimmingASCIIWhitespace()
            rest = rest[nameEnd...]
            guard rest.first == "=" else {
                result.append((String(name), nil))
                continue
            }
            rest = rest.dropFirst()
            if rest.first == "\"" {
                rest = rest.dropFirst()
                let close = rest.firstIndex(of: "\"") ?? rest.endIndex
                result.append((String(name), String(rest[..<close])))
                rest = close == rest.endIndex ? rest[close...] : rest[rest.index(after: close)...]
            } else {
                let end = rest.firstIndex(of: ";") ?? rest.endIndex
                result.append((String(name), String(rest[..<end].trimmingASCIIWhitespace())))
                rest = rest[end...]
            }
        }
        return result
    }

    /// `C:\photos\a.jpg` and `photos/a.jpg` → `a.jpg` (old browsers sent the client's path).
    private static func baseName(_ fileName: String) -> String {
        guard let separator = fileName.lastIndex(where: { $0 == "/" || $0 == "\\" }) else { return fileName }
        return String(fileName[fileName.index(after: separator)...])
    }

    /// The `boundary` parameter of `multipart/form-data; boundary=…` (quoted or not); nil for any
    /// other content type or a boundary RFC 2046 does not allow (1–70 characters).
    static func boundary(of contentType: String) -> String? {
        let parameters = Self.parameters(contentType[...])
        guard parameters.first?.name.lowercased() == "multipart/form-data",
            let boundary = parameters.first(where: { $0.name.lowercased() == "boundary" })?.value,
            (1...70).contains(boundary.utf8.count),
            boundary.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F || $0 == 0x20 })
        else { return nil }
        return boundary
    }
}

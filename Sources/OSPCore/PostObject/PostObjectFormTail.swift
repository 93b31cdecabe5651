#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import S3Signing

/// The rest of a form after the file part's head, as it streams to the backend: the file's
/// content, passed through untouched, up to the delimiter that ends it — which must close the
/// form. S3 ignores fields after the file, but some backends apply them, and those fields were
/// never checked against the policy nor shown to the policy engine (a second `key`, an `acl`).
/// So a form whose file is followed by another part is refused before the backend has all of it
/// (the caller aborts the upload: nothing is stored), as is a form that ends without closing.
///
/// Multipart parsers differ in where they recognise a delimiter (after CRLF, after a bare LF, or
/// wherever `--boundary` occurs), so the boundary may appear in the file only as the strict close,
/// `CRLF--boundary--`; anywhere else the form is refused. No encoder puts its boundary in content.
///
/// Each byte is looked at about once (`memchr` for the boundary's first `-`, then a compare); a
/// few bytes are held across reads when a read ends inside what may be the boundary.
package struct PostObjectFormTail: Sendable {
    /// `--boundary`.
    private let needle: [UInt8]
    /// Bytes that are osp's own and not scanned (the re-issued fields that precede the file).
    private var unscanned: Int
    /// The end of the last read, when it may be the start of the boundary (or the boundary
    /// without the two bytes that tell the form's close from another part).
    private var held: [UInt8] = []
    /// The two bytes before the next byte to scan (before `held`, when it is not empty): the
    /// file part's head ends with CRLF.
    private var before: [UInt8] = [0x0D, 0x0A]
    /// The form's closing delimiter has passed; what follows is epilogue, which no backend reads.
    package private(set) var isClosed = false

    /// - Parameters:
    ///   - delimiter: `--boundary`, as the form reader found it.
    ///   - unscanned: how many bytes at the start are osp's own (passed through unscanned).
    package init(delimiter: [UInt8], unscanned: Int) {
        self.needle = delimiter
        self.unscanned = unscanned
    }

    /// Looks at the next bytes of the body.
    package mutating func scan(_ buffer: ByteBuffer) throws(S3Error) {
        guard !self.isClosed else { return }
        var view = buffer.readableBytesView[...]
        if self.unscanned > 0 {
            let skipped = min(self.unscanned, view.count)
            self.unscanned -= skipped
            view = view.dropFirst(skipped)
        }
        guard !view.isEmpty else { return }
        let context = self.before
        let result: ScanResult
        let window: [UInt8]?
        if self.held.isEmpty, let direct = view.withContiguousStorageIfAvailable({ Self.scan(UnsafeRawBufferPointer($0), needle: self.needle, before: context) }) {
            result = direct
            window = nil
        } else {
            let bytes = self.held + Array(view)
            result = bytes.withUnsafeBytes { Self.scan($0, needle: self.needle, before: context) }
            window = bytes
        }
        switch result {
        case .closed:
            self.held = []
            self.isClosed = true
        case .clear(let lastTwo):
            self.held = []
            self.before = lastTwo
        case .hold(let from, let beforeHeld):
            self.held = window.map { Array($0[from...]) } ?? Array(view.dropFirst(from))
            self.before = beforeHeld
        case .misplacedBoundary:
            throw S3Error(.invalidArgument, "POST form fields after the file are not accepted (or the file holds the form's boundary); put every field before the file.")
        }
    }

    /// The body ended: it must have closed the form after the file.
    package func finish() throws(S3Error) {
        guard self.isClosed else {
            throw S3Error(.malformedPOSTRequest, "The body of your POST request does not end its form after the file.")
        }
    }

    private enum ScanResult {
        /// `CRLF--boundary--`: the form's close.
        case closed
        /// No boundary; the two bytes the scanned bytes end with.
        case clear(lastTwo: [UInt8])
        /// What may be the boundary starts at `from` and runs to the end; `beforeHeld` precede it.
        case hold(from: Int, beforeHeld: [UInt8])
        /// The boundary anywhere else: another part, or one a lenient parser would see.
        case misplacedBoundary
    }

    /// Finds the first `--boundary` in `bytes` (`before`: the two bytes preceding them).
    private static func scan(_ bytes: UnsafeRawBufferPointer, needle: [UInt8], before: [UInt8]) -> ScanResult {
        let count = bytes.count
        /// The byte `offset` places before index `index` (1 = just before), from `before` at the start.
        func preceding(_ index: Int, _ offset: Int) -> UInt8 {
            index - offset >= 0 ? bytes[index - offset] : before[2 + index - offset]
        }
        guard let base = bytes.baseAddress else { return .clear(lastTwo: before) }
        var from = 0
        while from < count, let found = memchr(base + from, Int32(UInt8(ascii: "-")), count - from) {
            let index = base.distance(to: UnsafeRawPointer(found))
            let available = min(needle.count, count - index)
            guard bytes[index..<index + available].elementsEqual(needle[..<available]) else {
                from = index + 1
                continue
            }
            let after = index + needle.count
            guard after + 2 <= count else {
                return .hold(from: index, beforeHeld: [preceding(index, 2), preceding(index, 1)])
            }
            let strictClose = preceding(index, 2) == 0x0D && preceding(index, 1) == 0x0A
                && bytes[after] == UInt8(ascii: "-") && bytes[after + 1] == UInt8(ascii: "-")
            return strictClose ? .closed : .misplacedBoundary
        }
        return .clear(lastTwo: [preceding(count, 2), preceding(count, 1)])
    }
}

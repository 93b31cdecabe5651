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
/// The file's size is counted as it passes and held to the policy's `content-length-range`: a file
/// past the maximum is refused (`EntityTooLarge`) with the read that carries it past, one under the
/// minimum (`EntityTooSmall`) with the read that closes the form — in both cases before the backend
/// has the whole form, so whatever the backend makes of the range, nothing is stored.
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
    /// Bytes known to be the file's (scanned and not held); its size once the form is closed.
    package private(set) var fileBytes: Int64 = 0
    /// The smallest and largest file the policy allows, inclusive (`min > max` allows none).
    private let minimumSize: Int64
    private let maximumSize: Int64

    /// - Parameters:
    ///   - delimiter: `--boundary`, as the form reader found it.
    ///   - unscanned: how many bytes at the start are osp's own (passed through unscanned).
    ///   - sizeRange: the file sizes the policy's `content-length-range` allows, if it has one; an
    ///     empty range (`min > max`) allows none.
    package init(delimiter: [UInt8], unscanned: Int, sizeRange: (min: Int64, max: Int64)? = nil) {
        self.needle = delimiter
        self.unscanned = unscanned
        self.minimumSize = sizeRange?.min ?? 0
        self.maximumSize = sizeRange?.max ?? .max
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
        let scanned = Int64(window?.count ?? view.count)
        switch result {
        case .closed(let at):
            // The CRLF before the delimiter is the delimiter's, not the file's; when it is the
            // part head's own (the delimiter right after the head), the file is empty.
            self.fileBytes = max(0, self.fileBytes + Int64(at) - 2)
            self.held = []
            self.isClosed = true
            try self.checkSize()
        case .clear(let lastTwo):
            self.fileBytes += scanned
            self.held = []
            self.before = lastTwo
            try self.checkSize()
        case .hold(let from, let beforeHeld):
            self.fileBytes += Int64(from)
            self.held = window.map { Array($0[from...]) } ?? Array(view.dropFirst(from))
            self.before = beforeHeld
            try self.checkSize()
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

    /// The file so far within the policy's maximum, and once closed not under its minimum. Until the
    /// close, the last two bytes counted may turn out to be the CRLF that starts the delimiter, so a
    /// file is refused early only when it is over by more than that (otherwise with the close, which
    /// is then not forwarded either).
    private func checkSize() throws(S3Error) {
        let certain = self.isClosed ? self.fileBytes : self.fileBytes - 2
        if certain > self.maximumSize {
            throw S3Error(.entityTooLarge, "Your proposed upload exceeds the maximum allowed size")
        }
        if self.isClosed, self.fileBytes < self.minimumSize {
            throw S3Error(.entityTooSmall, "Your proposed upload is smaller than the minimum allowed size")
        }
    }

    private enum ScanResult {
        /// `CRLF--boundary--` at `at` (the delimiter's `--`; the CRLF is just before): the form's close.
        case closed(at: Int)
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
            return strictClose ? .closed(at: index) : .misplacedBoundary
        }
        return .clear(lastTwo: [preceding(count, 2), preceding(count, 1)])
    }
}

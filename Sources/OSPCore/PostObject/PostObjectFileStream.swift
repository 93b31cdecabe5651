import NIOCore
import S3Signing

/// A form's file sent on as a PutObject (`PostObjectUpload.putRequest`): of the body after the
/// file part's head, exactly the file's bytes go on — the length the PUT declared — and the
/// form's close after them does not. The PUT is complete with its last byte, so that byte is held
/// until the form is known to close right after it (`PostObjectFormTail`, which scans the same
/// bytes): a form whose file is followed by more fields, or whose close is elsewhere, is cut
/// before the backend has a whole PUT, and nothing is stored.
package struct PostObjectFileStream: Sendable {
    /// The file's length, as the PUT declares it.
    package let length: Int64
    /// Body bytes after the file part's head seen so far.
    private var seen: Int64 = 0
    /// The file's last byte, once it has arrived.
    private var last: ByteBuffer?

    package init(length: Int64) {
        self.length = length
    }

    /// The part of `buffer` (the next body bytes) that goes on now: file bytes but the last.
    package mutating func take(_ buffer: ByteBuffer) -> ByteBuffer {
        let start = self.seen
        self.seen += Int64(buffer.readableBytes)
        let passable = max(0, min(self.seen, self.length - 1) - start)
        if self.last == nil, self.length > 0, start <= self.length - 1, self.length - 1 < self.seen {
            self.last = buffer.getSlice(at: buffer.readerIndex + Int(self.length - 1 - start), length: 1)
        }
        return buffer.getSlice(at: buffer.readerIndex, length: Int(passable)) ?? ByteBuffer()
    }

    /// The form has closed after a file of `fileBytes` (as its tail counted them): the held last
    /// byte, to complete the PUT — if the file is the length the PUT declared.
    package func finish(fileBytes: Int64) throws(S3Error) -> ByteBuffer? {
        guard fileBytes == self.length else {
            throw S3Error(
                .malformedPOSTRequest,
                "The form's file is \(fileBytes) bytes, but its Content-Length leaves \(self.length) (a form must end with CRLF--boundary--CRLF).")
        }
        return self.last
    }
}

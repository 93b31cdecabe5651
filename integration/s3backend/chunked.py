"""Decoding and verifying aws-chunked bodies (the `STREAMING-*` payload modes).

https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming-trailers.html

Signed chunks:   <hex-size>;chunk-signature=<sig>\\r\\n<data>\\r\\n ... 0;chunk-signature=<sig>\\r\\n
                 then `\\r\\n` (no trailer) or trailer lines, `x-amz-trailer-signature:<sig>\\r\\n`, `\\r\\n`.
Unsigned chunks: <hex-size>\\r\\n<data>\\r\\n ... 0\\r\\n<trailer lines>\\r\\n

Every chunk signature chains from the previous one (the first from the request's seed signature),
so a gateway that merely forwards chunks under a new seed signature is caught here.
"""
from __future__ import annotations

import base64
import hashlib
import zlib
from dataclasses import dataclass, field

from . import sigv4
from .errors import S3Refusal, incomplete_body, signature_mismatch

MIN_SIGNED_CHUNK = 8192


@dataclass
class SigningContext:
    """What chunk signatures are computed from."""

    key: bytes
    amz_date: str
    scope: str
    seed_signature: str


@dataclass
class DecodedBody:
    data: bytes
    chunk_count: int
    trailers: dict[str, str] = field(default_factory=dict)


class _Reader:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.pos = 0

    def line(self) -> bytes:
        end = self.raw.find(b"\r\n", self.pos)
        if end < 0:
            raise incomplete_body("The aws-chunked body ended inside a chunk header or trailer.")
        line = self.raw[self.pos : end]
        self.pos = end + 2
        return line

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.raw):
            raise incomplete_body(
                "You did not provide the number of bytes specified by the chunk size header."
            )
        data = self.raw[self.pos : self.pos + count]
        self.pos += count
        return data

    def crlf(self) -> None:
        if self.take(2) != b"\r\n":
            raise S3Refusal(400, "InvalidChunkSizeError", "A chunk's data was not followed by CRLF.")

    @property
    def at_end(self) -> bool:
        return self.pos == len(self.raw)


def _chunk_header(line: bytes, signed: bool) -> tuple[int, str | None]:
    size_text, _, extension = line.partition(b";")
    try:
        size = int(size_text, 16)
        if size_text.strip() != size_text or size_text == b"" or size < 0:
            raise ValueError
    except ValueError:
        raise S3Refusal(400, "InvalidChunkSizeError", f"Invalid chunk size line {line[:80]!r}.") from None
    if not signed:
        return size, None
    name, _, signature = extension.partition(b"=")
    if name != b"chunk-signature" or not sigv4.HEX64.match(signature.decode("latin-1")):
        raise signature_mismatch(f"Chunk header without a valid chunk-signature: {line[:120]!r}.")
    return size, signature.decode("ascii")


def decode(raw: bytes, signing: SigningContext | None, expect_trailer: bool) -> DecodedBody:
    """Decode an aws-chunked body, verifying chunk (and trailer) signatures when `signing` is given."""
    reader = _Reader(raw)
    signed = signing is not None
    previous = signing.seed_signature if signing else ""
    pieces: list[bytes] = []
    chunks = 0
    last_size = None
    while True:
        size, signature = _chunk_header(reader.line(), signed)
        data = reader.take(size)
        chunks += 1
        if signed:
            assert signing is not None and signature is not None
            if size > 0 and last_size is not None and last_size < MIN_SIGNED_CHUNK:
                raise S3Refusal(
                    400,
                    "InvalidChunkSizeError",
                    "Only the last chunk is allowed to have a size less than 8192 bytes",
                )
            expected = sigv4.sign(
                signing.key, sigv4.chunk_string_to_sign(signing.amz_date, signing.scope, previous, data)
            )
            if not sigv4.same_signature(expected, signature):
                raise signature_mismatch(
                    f"The chunk signature of chunk {chunks} (size {size}) does not match.",
                    ChunkNumber=str(chunks),
                )
            previous = signature
        last_size = size
        if size == 0:
            break
        pieces.append(data)
        reader.crlf()

    trailers: dict[str, str] = {}
    trailer_bytes = b""
    trailer_signature = None
    while True:
        line = reader.line()
        if line == b"":
            break
        name, sep, value = line.partition(b":")
        if not sep:
            raise incomplete_body(f"Malformed trailer line {line[:80]!r}.")
        name_text = name.decode("latin-1").strip().lower()
        value_text = value.decode("latin-1").strip()
        if name_text == "x-amz-trailer-signature":
            trailer_signature = value_text
            continue
        if trailer_signature is not None:
            raise incomplete_body("Trailer lines after x-amz-trailer-signature.")
        trailers[name_text] = value_text
        trailer_bytes += f"{name_text}:{value_text}\n".encode("latin-1")
    if not reader.at_end:
        raise incomplete_body(f"{len(raw) - reader.pos} bytes after the end of the aws-chunked body.")

    if expect_trailer and not trailers:
        raise incomplete_body("The request announced a trailer (x-amz-trailer) but none was sent.")
    if not expect_trailer and trailers:
        raise S3Refusal(400, "InvalidRequest", "Trailing headers sent without x-amz-trailer.")
    if signed and expect_trailer:
        assert signing is not None
        if trailer_signature is None:
            raise signature_mismatch("The trailer has no x-amz-trailer-signature.")
        expected = sigv4.sign(
            signing.key, sigv4.trailer_string_to_sign(signing.amz_date, signing.scope, previous, trailer_bytes)
        )
        if not sigv4.same_signature(expected, trailer_signature):
            raise signature_mismatch("The trailer signature does not match.")
    elif trailer_signature is not None:
        raise signature_mismatch("x-amz-trailer-signature sent in an unsigned-trailer body.")
    return DecodedBody(b"".join(pieces), chunks, trailers)


# --- checksums (x-amz-checksum-*) -----------------------------------------------------------------

def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    try:  # optional accelerated implementations
        import crc32c as _fast  # type: ignore

        return _fast.crc32c(data)
    except ImportError:
        pass
    crc = 0xFFFFFFFF
    table = _CRC32C
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def checksum(algorithm: str, data: bytes) -> str | None:
    """Base64 checksum as S3 sends it in x-amz-checksum-<algorithm>; None if not computable here."""
    if algorithm == "crc32":
        raw = zlib.crc32(data).to_bytes(4, "big")
    elif algorithm == "crc32c":
        raw = crc32c(data).to_bytes(4, "big")
    elif algorithm == "sha1":
        raw = hashlib.sha1(data).digest()
    elif algorithm == "sha256":
        raw = hashlib.sha256(data).digest()
    else:
        return None
    return base64.b64encode(raw).decode("ascii")


def verify_checksum(header_name: str, value: str, data: bytes) -> bool | None:
    """True/False when the checksum could be verified, None for algorithms not implemented here."""
    algorithm = header_name.removeprefix("x-amz-checksum-")
    expected = checksum(algorithm, data)
    if expected is None:
        return None
    if expected != value:
        raise S3Refusal(
            400,
            "BadDigest",
            f"The {algorithm.upper()} you specified did not match the calculated checksum.",
        )
    return True

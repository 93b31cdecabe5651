"""SigV4 canonicalisation and signing primitives, written from the AWS specification.

Deliberately independent of botocore: this is the yardstick clients (and osp) are measured against.
https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html

Everything works on the *raw* request target (bytes as sent on the wire): S3's canonical URI is the
path encoded once and never normalised, so `a+b`, `a%20b`, `dir//double` and `..` stay as they are.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import quote, unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_MODES = (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)

_UNRESERVED = "-._~"  # plus A-Za-z0-9, which quote() never encodes
_SPACES = re.compile(rb"[ \t]+")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def uri_encode(raw: bytes) -> str:
    """Percent-encode every byte except unreserved ones, with uppercase hex (slash encoded too)."""
    return quote(raw, safe=_UNRESERVED)


def canonical_uri(raw_path: bytes) -> str:
    """Each path segment percent-decoded, then encoded once; no normalisation (`//` stays)."""
    if raw_path == b"":
        return "/"
    return "/".join(uri_encode(unquote_to_bytes(segment)) for segment in raw_path.split(b"/"))


def query_pairs(raw_query: bytes) -> list[tuple[bytes, bytes]]:
    """The decoded (name, value) pairs of a raw query string, split on `&` and the first `=`."""
    pairs = []
    for piece in raw_query.split(b"&"):
        if piece == b"":
            continue
        name, _, value = piece.partition(b"=")
        pairs.append((unquote_to_bytes(name), unquote_to_bytes(value)))
    return pairs


def canonical_query(pairs: list[tuple[bytes, bytes]]) -> str:
    encoded = sorted((uri_encode(name), uri_encode(value)) for name, value in pairs)
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_header_value(value: bytes) -> bytes:
    return _SPACES.sub(b" ", value.strip(b" \t"))


def canonical_request(
    method: str,
    raw_path: bytes,
    pairs: list[tuple[bytes, bytes]],
    headers: dict[str, bytes],
    signed_headers: list[str],
    payload_hash: str,
) -> bytes:
    """`headers` maps lowercase names to raw values (repeated headers already joined with `,`)."""
    header_lines = b"".join(
        name.encode("latin-1") + b":" + canonical_header_value(headers.get(name, b"")) + b"\n"
        for name in signed_headers
    )
    return b"\n".join(
        [
            method.encode("ascii"),
            canonical_uri(raw_path).encode("ascii"),
            canonical_query(pairs).encode("ascii"),
            header_lines,
            ";".join(signed_headers).encode("latin-1"),
            payload_hash.encode("latin-1"),
        ]
    )


def sha256_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def string_to_sign(amz_date: str, scope: str, canonical: bytes) -> str:
    return "\n".join([ALGORITHM, amz_date, scope, sha256_hex(canonical)])


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret_key).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def chunk_string_to_sign(amz_date: str, scope: str, previous_signature: str, chunk: bytes) -> str:
    return "\n".join(
        ["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous_signature, EMPTY_SHA256, sha256_hex(chunk)]
    )


def trailer_string_to_sign(amz_date: str, scope: str, previous_signature: str, trailer: bytes) -> str:
    return "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous_signature, sha256_hex(trailer)])


def same_signature(expected: str, presented: str) -> bool:
    return hmac.compare_digest(expected.encode("ascii"), presented.encode("ascii", "replace"))

"""SigV4 request signing and aws-chunked body encoding, for every payload mode S3 knows.

Payload modes (the value of x-amz-content-sha256):
  "hex"                                         sha256 of the body
  "UNSIGNED-PAYLOAD"
  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"          signed chunks
  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"  signed chunks + signed checksum trailer
  "STREAMING-UNSIGNED-PAYLOAD-TRAILER"          plain chunks + checksum trailer
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import zlib
from dataclasses import dataclass, field
from urllib.parse import quote

EMPTY_HASH = hashlib.sha256(b"").hexdigest()
HEX = "hex"
UNSIGNED = "UNSIGNED-PAYLOAD"
SIGNED_CHUNKS = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNED_CHUNKS_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
PAYLOAD_MODES = (HEX, UNSIGNED, SIGNED_CHUNKS, SIGNED_CHUNKS_TRAILER, UNSIGNED_TRAILER)


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    region: str = "us-east-1"


@dataclass
class PreparedRequest:
    """A request ready to send byte for byte: tests may tamper with any part before sending."""

    method: str
    target: str  # path + "?" + query, exactly as sent
    headers: list[tuple[str, str]]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def replace_header(self, name: str, value: str) -> None:
        self.headers = [(k, value if k.lower() == name.lower() else v) for k, v in self.headers]


def amz_now(offset_seconds: float = 0) -> str:
    moment = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=offset_seconds)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _encode(text: str | bytes, safe: str) -> str:
    return quote(text, safe=safe)


def encode_key(key: str) -> str:
    """A key as a path, encoded the way S3 canonicalises it (slashes kept, everything else strict)."""
    return _encode(key, "/-._~")


def encode_query(params: list[tuple[str, str]] | dict[str, str]) -> str:
    """The canonical (sorted, strictly encoded) query string; also what is sent."""
    items = params.items() if isinstance(params, dict) else params
    encoded = sorted((_encode(k, "-._~"), _encode(v, "-._~")) for k, v in items)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def checksum_b64(algorithm: str, data: bytes) -> str:
    if algorithm == "crc32":
        return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    if algorithm == "sha256":
        return base64.b64encode(hashlib.sha256(data).digest()).decode()
    if algorithm == "sha1":
        return base64.b64encode(hashlib.sha1(data).digest()).decode()
    raise ValueError(f"checksum {algorithm} not supported by this test client")


@dataclass
class RequestSigner:
    """Signs requests for one endpoint (`host` is the Host header value, e.g. "127.0.0.1:9000")."""

    credentials: Credentials
    host: str
    service: str = "s3"
    extra_signed: list[str] = field(default_factory=list)

    def signing_key(self, date: str) -> bytes:
        key = ("AWS4" + self.credentials.secret_key).encode()
        for part in (date, self.credentials.region, self.service, "aws4_request"):
            key = _hmac(key, part)
        return key

    def scope(self, date: str) -> str:
        return f"{date}/{self.credentials.region}/{self.service}/aws4_request"

    def _canonical(self, method: str, path: str, query: str, headers: dict[str, str], payload_hash: str):
        names = sorted(headers)
        lines = "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names)
        signed = ";".join(names)
        return "\n".join([method, path, query, lines, signed, payload_hash]), signed

    def prepare(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        payload_mode: str = HEX,
        amz_date: str | None = None,
        chunk_size: int = 65536,
        checksum_algorithm: str = "crc32",
        unsigned_headers: dict[str, str] | None = None,
    ) -> PreparedRequest:
        """Sign with the Authorization header. `path` must already be encoded (see `encode_key`)."""
        amz_date = amz_date or amz_now()
        date = amz_date[:8]
        query_string = encode_query(query or [])
        signed = {k.lower(): v for k, v in (headers or {}).items()}
        signed["host"] = self.host
        signed["x-amz-date"] = amz_date
        if payload_mode == HEX:
            payload_hash = hashlib.sha256(body).hexdigest()
        else:
            payload_hash = payload_mode
        signed["x-amz-content-sha256"] = payload_hash
        streaming = payload_mode.startswith("STREAMING-")
        if streaming:
            signed["x-amz-decoded-content-length"] = str(len(body))
            encodings = [e for e in [signed.get("content-encoding", "")] if e]
            signed["content-encoding"] = ",".join(["aws-chunked", *encodings])
            if payload_mode != SIGNED_CHUNKS:
                signed["x-amz-trailer"] = f"x-amz-checksum-{checksum_algorithm}"
        canonical, signed_names = self._canonical(method, path, query_string, signed, payload_hash)
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, self.scope(date),
                             hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
        key = self.signing_key(date)
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        authorization = (f"AWS4-HMAC-SHA256 Credential={self.credentials.access_key}/{self.scope(date)}, "
                         f"SignedHeaders={signed_names}, Signature={signature}")
        wire_body = body
        if payload_mode in (SIGNED_CHUNKS, SIGNED_CHUNKS_TRAILER):
            trailer = None
            if payload_mode == SIGNED_CHUNKS_TRAILER:
                trailer = (f"x-amz-checksum-{checksum_algorithm}", checksum_b64(checksum_algorithm, body))
            wire_body = encode_signed_chunks(body, chunk_size, key, amz_date, self.scope(date), signature, trailer)
        elif payload_mode == UNSIGNED_TRAILER:
            wire_body = encode_unsigned_chunks(
                body, chunk_size, (f"x-amz-checksum-{checksum_algorithm}", checksum_b64(checksum_algorithm, body)))
        out = [(name, value) for name, value in signed.items()]
        out.append(("Authorization", authorization))
        out.append(("Content-Length", str(len(wire_body))))
        out.extend((unsigned_headers or {}).items())
        target = path + ("?" + query_string if query_string else "")
        return PreparedRequest(method, target, out, wire_body)

    def presign(
        self,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        expires: int = 900,
        amz_date: str | None = None,
    ) -> str:
        """A presigned target (path + query) signed with the host header only."""
        amz_date = amz_date or amz_now()
        date = amz_date[:8]
        params = dict(query or {})
        params.update({
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"{self.credentials.access_key}/{self.scope(date)}",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": str(expires),
            "X-Amz-SignedHeaders": "host",
        })
        query_string = encode_query(params)
        canonical, _ = self._canonical(method, path, query_string, {"host": self.host}, UNSIGNED)
        to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, self.scope(date),
                             hashlib.sha256(canonical.encode()).hexdigest()])
        signature = hmac.new(self.signing_key(date), to_sign.encode(), hashlib.sha256).hexdigest()
        return f"{path}?{query_string}&X-Amz-Signature={signature}"


def encode_signed_chunks(
    body: bytes,
    chunk_size: int,
    key: bytes,
    amz_date: str,
    scope: str,
    seed_signature: str,
    trailer: tuple[str, str] | None = None,
) -> bytes:
    """aws-chunked with a chunk-signature per chunk, each chained from the previous one."""
    out = bytearray()
    previous = seed_signature
    chunks = [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)] + [b""]
    for chunk in chunks:
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, EMPTY_HASH,
                             hashlib.sha256(chunk).hexdigest()])
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out += f"{len(chunk):x};chunk-signature={previous}\r\n".encode() + chunk
        if chunk:
            out += b"\r\n"
    if trailer is None:
        out += b"\r\n"
        return bytes(out)
    name, value = trailer
    trailer_line = f"{name}:{value}\n".encode()
    to_sign = "\n".join(["AWS4-HMAC-SHA256-TRAILER", amz_date, scope, previous,
                         hashlib.sha256(trailer_line).hexdigest()])
    trailer_signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out += f"{name}:{value}\r\nx-amz-trailer-signature:{trailer_signature}\r\n\r\n".encode()
    return bytes(out)


def encode_unsigned_chunks(body: bytes, chunk_size: int, trailer: tuple[str, str]) -> bytes:
    """aws-chunked without signatures, ending in a checksum trailer (what botocore sends over TLS)."""
    out = bytearray()
    for i in range(0, len(body), chunk_size):
        chunk = body[i : i + chunk_size]
        out += f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    name, value = trailer
    out += f"0\r\n{name}:{value}\r\n\r\n".encode()
    return bytes(out)

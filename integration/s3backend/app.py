"""The WSGI middleware that puts the verifier in front of moto's S3, and the admin endpoints.

Admin (no auth; `__backend` is not a valid bucket name, so it cannot collide):
  GET  /__backend/journal   the journal as a JSON list
  POST /__backend/reset     clear the journal (moto's objects stay)
  GET  /__backend/health    200 "ok"
"""
from __future__ import annotations

import io
import json
import sys
import traceback

from . import sigv4
from .errors import S3Refusal, new_request_id, render
from .bearer import SCHEME as BEARER_SCHEME, BearerIntrospection
from .journal import Journal
from .verifier import RawRequest, Verdict, Verifier

ADMIN_PREFIX = b"/__backend/"
MAX_BODY = 1 << 31


def _headers_from_environ(environ) -> dict[str, bytes]:
    headers: dict[str, bytes] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if value == "":
                continue  # werkzeug sets these to "" when the header is absent
            name = key.replace("_", "-").lower()
        else:
            continue
        headers[name] = value.encode("latin-1")
    return headers


def _read_body(environ, headers: dict[str, bytes]) -> tuple[bytes, bool]:
    """The request body and whether it was complete."""
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):  # Transfer-Encoding: chunked, already de-chunked
        data = stream.read()
        return data, True
    length_text = headers.get("content-length")
    if not length_text:
        return b"", True
    try:
        length = int(length_text)
    except ValueError:
        raise S3Refusal(400, "InvalidArgument", "Content-Length is not a number") from None
    if length > MAX_BODY:
        raise S3Refusal(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
    pieces = []
    remaining = length
    while remaining > 0:
        try:
            piece = stream.read(min(remaining, 1 << 20))
        except (OSError, TimeoutError):
            piece = b""
        if not piece:
            break
        pieces.append(piece)
        remaining -= len(piece)
    return b"".join(pieces), remaining == 0


_JOURNAL_SKIP = {"authorization"}


def _has_query_name(raw_query: bytes, name: bytes) -> bool:
    return any(part.split(b"=", 1)[0] == name for part in raw_query.split(b"&"))


def _drop_null_version_id(environ, request: RawRequest) -> None:
    """S3 reads `versionId=null` on a bucket that was never versioned as the object itself (rclone
    asks so); moto 5.2 answers 400. Dropped here unless the bucket is versioned."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    host = (request.header("host") or "").split(":", 1)[0]
    candidates = [request.raw_path.decode("latin-1").lstrip("/").split("/", 1)[0], host.split(".", 1)[0]]
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for name in candidates:
        bucket = backend.buckets.get(name)
        if bucket is not None and bucket.is_versioned:
            return
    query = b"&".join(part for part in request.raw_query.split(b"&") if part != b"versionId=null").decode("latin-1")
    path = request.raw_path.decode("latin-1")
    environ["QUERY_STRING"] = query
    for key in ("RAW_URI", "REQUEST_URI"):
        if key in environ:
            environ[key] = path + ("?" + query if query else "")


def _mend_complete_multipart_upload(body_parts, start, start_response):
    """moto 5.2 names the root element of CompleteMultipartUpload's answer
    `CompleteMultipartUploadResponse`; S3's is `CompleteMultipartUploadResult`, and the AWS SDK for
    C++ (pyarrow) refuses anything else. Renamed here, the rest of the answer untouched."""
    status, headers, exc_info = start
    body = b"".join(body_parts)
    if hasattr(body_parts, "close"):
        body_parts.close()
    if status.startswith("200"):
        body = body.replace(b"<CompleteMultipartUploadResponse", b"<CompleteMultipartUploadResult", 1)
        body = body.replace(b"</CompleteMultipartUploadResponse>", b"</CompleteMultipartUploadResult>", 1)
    headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
    headers.append(("Content-Length", str(len(body))))
    start_response(status, headers, exc_info)
    return [body]


class VerifyingS3App:
    """moto's S3 app, reachable only through the independent SigV4 verifier."""

    def __init__(self, moto_app, verifier: Verifier, journal: Journal, verbose: bool = False) -> None:
        self.moto_app = moto_app
        self.verifier = verifier
        self.journal = journal
        self.verbose = verbose

    def __call__(self, environ, start_response):
        raw_target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
        target = raw_target.encode("latin-1")
        raw_path, _, raw_query = target.partition(b"?")
        if raw_path.startswith(ADMIN_PREFIX):
            return self._admin(environ, start_response, raw_path)

        request_id = new_request_id()
        headers = _headers_from_environ(environ)
        request = RawRequest(environ["REQUEST_METHOD"], raw_path, raw_query, headers)
        entry: dict = {
            "request_id": request_id,
            "method": request.method,
            "path": raw_path.decode("latin-1"),
            "query": raw_query.decode("latin-1"),
            "headers": {name: value.decode("latin-1") for name, value in sorted(headers.items())
                        if name not in _JOURNAL_SKIP},
        }
        if self.verifier.bearer is not None and (request.header("authorization") or "").startswith(BEARER_SCHEME):
            entry["auth"] = "bearer"  # known before the token is judged, so refused bearer requests say so too
        verdict: Verdict | None = None
        complete = True
        try:
            verdict = self.verifier.authenticate(request)
            entry.update(auth=verdict.auth, access_key=verdict.access_key,
                         signed_headers=verdict.signed_headers, payload_mode=verdict.payload_mode)
            if verdict.api_key_id is not None:
                entry["api_key_id"] = verdict.api_key_id
            transfer_encoding = (request.header("transfer-encoding") or "").lower()
            if "chunked" in transfer_encoding and verdict.payload_hash not in sigv4.STREAMING_MODES:
                raise S3Refusal(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
            request.body, complete = _read_body(environ, headers)
            entry["body_length"] = len(request.body)
            if not complete:
                raise S3Refusal(400, "IncompleteBody",
                                "You did not provide the number of bytes specified by the Content-Length HTTP header")
            self.verifier.verify_payload(request, verdict)
            entry["decoded_length"] = len(verdict.body)
            if verdict.trailers:
                entry["trailers"] = verdict.trailers
            if verdict.checksums_verified:
                entry["checksums_verified"] = verdict.checksums_verified
        except S3Refusal as refusal:
            if "body_length" not in entry:
                # drain what the client sends so that keep-alive stays in sync
                try:
                    request.body, complete = _read_body(environ, headers)
                except S3Refusal:
                    complete = False
                entry["body_length"] = len(request.body)
            entry.update(verdict="refused", status=refusal.status, error=refusal.code,
                         message=refusal.message)
            self.journal.append(entry)
            if self.verbose:
                print(f"REFUSED {request.method} {raw_target} {refusal.code}: {refusal.message}",
                      file=sys.stderr, flush=True)
            status, response_headers, body = render(refusal, request_id)
            if not complete:
                response_headers.append(("Connection", "close"))
            start_response(status, response_headers)
            return [body]

        return self._forward(environ, start_response, request, verdict, entry)

    def _forward(self, environ, start_response, request: RawRequest, verdict: Verdict, entry: dict):
        forwarded = dict(environ)
        body = verdict.body
        forwarded["wsgi.input"] = io.BytesIO(body)
        forwarded.pop("wsgi.input_terminated", None)
        forwarded.pop("HTTP_TRANSFER_ENCODING", None)
        if body or request.headers.get("content-length") is not None:
            forwarded["CONTENT_LENGTH"] = str(len(body))
        if verdict.payload_hash in sigv4.STREAMING_MODES:
            # moto would try to de-chunk again: hand it a plain, already verified body
            forwarded["HTTP_X_AMZ_CONTENT_SHA256"] = sigv4.sha256_hex(body)
            forwarded.pop("HTTP_X_AMZ_DECODED_CONTENT_LENGTH", None)
            forwarded.pop("HTTP_X_AMZ_TRAILER", None)
            encodings = [e.strip() for e in environ.get("HTTP_CONTENT_ENCODING", "").split(",")
                         if e.strip() and e.strip().lower() != "aws-chunked"]
            if encodings:
                forwarded["HTTP_CONTENT_ENCODING"] = ",".join(encodings)
            else:
                forwarded.pop("HTTP_CONTENT_ENCODING", None)
            for name, value in verdict.trailers.items():
                if name.startswith("x-amz-checksum-"):
                    forwarded["HTTP_" + name.upper().replace("-", "_")] = value

        if request.method in ("GET", "HEAD") and b"versionId=null" in request.raw_query.split(b"&"):
            _drop_null_version_id(forwarded, request)

        captured: dict = {}
        completes_upload = request.method == "POST" and _has_query_name(request.raw_query, b"uploadId")

        def capture(status, headers, exc_info=None):
            captured["status"] = int(status.split(" ", 1)[0])
            if completes_upload:
                captured["start"] = (status, headers, exc_info)  # sent once the body is mended
                return lambda data: None
            return start_response(status, headers, exc_info)

        try:
            result = self.moto_app(forwarded, capture)
            if completes_upload:
                result = _mend_complete_multipart_upload(result, captured["start"], start_response)
        except Exception:  # pragma: no cover - moto bug; still journal it
            traceback.print_exc()
            entry.update(verdict="accepted", status=500, error="InternalError")
            self.journal.append(entry)
            raise
        entry.update(verdict="accepted", status=captured.get("status"))
        self.journal.append(entry)
        return result

    def _admin(self, environ, start_response, raw_path: bytes):
        method = environ["REQUEST_METHOD"]
        if raw_path == b"/__backend/journal" and method == "GET":
            body = json.dumps(self.journal.entries()).encode()
            content_type = "application/json"
        elif raw_path == b"/__backend/reset" and method == "POST":
            body = json.dumps({"cleared": self.journal.reset()}).encode()
            content_type = "application/json"
        elif raw_path == b"/__backend/health":
            body, content_type = b"ok", "text/plain"
        else:
            start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
            return [b"not found"]
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]


def build_app(credentials: dict[str, str], region: str, journal_path: str | None = None,
              verbose: bool = False, bearer_introspect: str | None = None) -> VerifyingS3App:
    """`bearer_introspect`: the IAM introspection URL that makes `Authorization: Bearer` acceptable."""
    from moto.server import create_backend_app

    bearer = BearerIntrospection(bearer_introspect) if bearer_introspect else None
    moto_app = create_backend_app("s3")
    return VerifyingS3App(moto_app, Verifier(credentials, region, bearer=bearer), Journal(journal_path), verbose)

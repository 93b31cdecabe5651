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
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape

from . import postform, sigv4
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


def _stored_etag(bucket: str, key: str) -> str:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    stored = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object(bucket, key)
    return stored.etag if stored is not None else ""


def _mend_post_object(body_parts, start, start_response, environ, verdict: Verdict):
    """moto 5.2 answers a stored form with no `ETag` and no `Location`, takes `success_action_status`
    literally (any value, before `success_action_redirect`), answers 201 with an empty body and leaves
    the ETag out of the redirect. S3: `success_action_redirect` → 303 to it with `bucket`, `key` and
    `etag` added to its query; else `success_action_status` 200 → 200, 201 → 201 with a
    `<PostResponse>` document, anything else → 204; always `ETag` and `Location` headers. Put right
    here; moto's errors pass untouched."""
    status, headers, exc_info = start
    body = b"".join(body_parts)
    if hasattr(body_parts, "close"):
        body_parts.close()
    code = int(status.split(" ", 1)[0])
    if not 200 <= code < 400 or verdict.form is None:
        start_response(status, headers, exc_info)
        return code, [body]
    form, bucket = verdict.form.form, verdict.form.bucket
    key = form.key or ""
    etag = _stored_etag(bucket, key)
    scheme = environ.get("wsgi.url_scheme", "http")
    bucket_path = "" if environ.get("PATH_INFO") == "/" else f"/{bucket}"  # virtual-host style: in the host
    location = f"{scheme}://{environ.get('HTTP_HOST', '')}{bucket_path}/{quote(key, safe='/~')}"
    headers = [(name, value) for name, value in headers
               if name.lower() not in ("content-length", "content-type", "location", "etag")]
    redirect = form.get("success_action_redirect") or form.get("redirect")
    wanted = form.get("success_action_status")
    body = b""
    if redirect:
        separator = "&" if "?" in redirect else "?"
        status = "303 See Other"
        headers.append(("Location", redirect + separator + urlencode({"bucket": bucket, "key": key, "etag": etag})))
    else:
        headers += [("ETag", etag), ("Location", location)]
        if wanted == "201":
            status = "201 Created"
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse>'
                    f"<Location>{escape(location)}</Location><Bucket>{escape(bucket)}</Bucket>"
                    f"<Key>{escape(key)}</Key><ETag>{escape(etag)}</ETag></PostResponse>").encode()
            headers.append(("Content-Type", "application/xml"))
        elif wanted == "200":
            status = "200 OK"
        else:
            status = "204 No Content"
    if not status.startswith("204"):
        headers.append(("Content-Length", str(len(body))))
    start_response(status, headers, exc_info)
    return int(status.split(" ", 1)[0]), [body]


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
        form_bucket = postform.form_bucket(request.method, raw_path, raw_query, headers)
        if form_bucket is not None:
            entry["auth"] = "form-v4"  # likewise: refused forms say what they were
        verdict: Verdict | None = None
        complete = True
        try:
            if form_bucket is not None:
                # POST Object: the credentials are in the body, so it is read (whole, bounded) first.
                # Transfer-Encoding: chunked is fine here (S3 takes chunked forms; moto gets a length).
                request.body, complete = _read_body(environ, headers)
                entry["body_length"] = len(request.body)
                if not complete:
                    raise S3Refusal(400, "IncompleteBody",
                                    "You did not provide the number of bytes specified by the Content-Length HTTP header")
                verdict = self.verifier.authenticate_form(request, form_bucket)
                assert verdict.form is not None
                entry.update(auth=verdict.auth, access_key=verdict.access_key, signed_headers=[],
                             payload_mode=verdict.payload_mode, decoded_length=len(verdict.body),
                             form=verdict.form.journal())
                return self._forward(environ, start_response, request, verdict, entry)
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
        mended = completes_upload or verdict.form is not None

        def capture(status, headers, exc_info=None):
            captured["status"] = int(status.split(" ", 1)[0])
            if mended:
                captured["start"] = (status, headers, exc_info)  # sent once the body is mended
                return lambda data: None
            return start_response(status, headers, exc_info)

        try:
            result = self.moto_app(forwarded, capture)
            if completes_upload:
                result = _mend_complete_multipart_upload(result, captured["start"], start_response)
            elif verdict.form is not None:
                captured["status"], result = _mend_post_object(result, captured["start"], start_response,
                                                               environ, verdict)
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

"""Hostile HTTP: malformed framing, smuggling attempts, absurd lengths, garbage credentials and path
tricks, each sent byte for byte to osp.

Every case must get an S3 XML error osp made itself (right status and `<Code>`, `Content-Type:
application/xml`, `x-amz-request-id`), the backend must have seen nothing (its journal is empty and the
object is absent when read straight from it), and osp must go on serving signed requests afterwards.

Where framing is the test, the request is otherwise *valid and signed* by a principal allowed to do
it, so that the framing alone can be the reason for the refusal (an unsigned request would be refused
for its missing signature first and prove nothing about the parser).
"""
from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, unquote

import pytest

from conftest import ALIAS_BUCKET, REAL_BUCKET, REGION, _osp_env, _running, policy_osp_config
from osptest import processes
from osptest.clients import CLIENT_KEYS, s3_client
from osptest.s3checks import assert_osp_error, exists_at_backend, stored_bytes
from s3client import signer as sig
from s3client.http import parse_response, send, send_raw_once, serialize

pytestmark = pytest.mark.usefixtures("osp")

TOO_LARGE = ((400, 431), "RequestHeaderSectionTooLarge")
BAD_FRAMING = (400, "InvalidRequest")


@pytest.fixture
def good(osp) -> sig.RequestSigner:
    return sig.RequestSigner(sig.Credentials(*CLIENT_KEYS), osp.host)


def assert_still_serving(osp_s3, backend_s3, prefix: str) -> None:
    """A signed boto3 round trip through osp works after the hostile request."""
    key = f"{prefix}after"
    osp_s3.put_object(Bucket=ALIAS_BUCKET, Key=key, Body=b"still here")
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"still here"
    assert osp_s3.get_object(Bucket=ALIAS_BUCKET, Key=key)["Body"].read() == b"still here"


def signed_head(signer: sig.RequestSigner, method: str, path: str) -> bytes:
    """A correctly signed request head (UNSIGNED-PAYLOAD, so the body is not part of the signature),
    without its blank line and without Content-Length: the case appends its own framing headers."""
    request = signer.prepare(method, path, payload_mode=sig.UNSIGNED)
    lines = [f"{method} {request.target} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in request.headers if name.lower() != "content-length"]
    return ("\r\n".join(lines) + "\r\n").encode()


def number_of_responses(raw: bytes) -> int:
    return raw.count(b"HTTP/1.1 ")


# -- oversize header sections -------------------------------------------------------------------

HEADER_SECTIONS = {
    # server.max_header_bytes is 16384 and server.max_header_count 200 (the defaults).
    "one-huge-header": b"X-Big: " + b"a" * 20_000 + b"\r\n",
    "total-over-the-limit": b"".join(b"X-Part-%d: %s\r\n" % (i, b"b" * 1000) for i in range(20)),
    "too-many-headers": b"".join(b"X-H%d: v\r\n" % i for i in range(300)),
}


@pytest.mark.parametrize("extra", HEADER_SECTIONS.values(), ids=HEADER_SECTIONS.keys())
def test_oversize_header_section_is_refused(osp, osp_s3, backend_s3, journal, good, prefix, extra):
    key = f"{prefix}k"
    raw = signed_head(good, "PUT", f"/{ALIAS_BUCKET}/{key}") + extra + b"Content-Length: 2\r\n\r\nab"
    assert_osp_error(parse_response(send_raw_once("127.0.0.1", osp.port, raw)), *TOO_LARGE)
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)
    assert_still_serving(osp_s3, backend_s3, prefix)


def test_oversize_request_target_is_refused(osp, osp_s3, backend_s3, journal, prefix):
    raw = f"GET /{ALIAS_BUCKET}/{prefix}{'a' * 20_000} HTTP/1.1\r\nHost: {osp.host}\r\n\r\n".encode()
    assert_osp_error(parse_response(send_raw_once("127.0.0.1", osp.port, raw)), *TOO_LARGE)
    assert journal.journal() == []
    assert_still_serving(osp_s3, backend_s3, prefix)


# -- requests that do not parse ------------------------------------------------------------------

UNPARSEABLE = {
    "garbage": (b"\x01\x02 garbage\r\n\r\n", "InvalidRequest"),
    "bare-lf-line-endings": (b"GET /proxy-bucket01/k HTTP/1.1\nHost: HOST\n\n", "InvalidRequest"),
    "http-0.9": (b"GET /proxy-bucket01/k\r\n\r\n", "InvalidRequest"),
    "http2-preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "InvalidRequest"),
    "nul-in-header-value": (b"GET /proxy-bucket01/k HTTP/1.1\r\nHost: HOST\r\nX-A: a\x00b\r\n\r\n", "InvalidRequest"),
    "obsolete-line-folding": (b"GET /proxy-bucket01/k HTTP/1.1\r\nHost: HOST\r\nX-A: a\r\n b\r\n\r\n", "InvalidRequest"),
    "absolute-form-target": (b"GET http://evil.example/proxy-bucket01/k HTTP/1.1\r\nHost: HOST\r\n\r\n", "InvalidURI"),
}


@pytest.mark.parametrize("raw, code", UNPARSEABLE.values(), ids=UNPARSEABLE.keys())
def test_unparseable_request_is_refused(osp, osp_s3, backend_s3, journal, prefix, raw, code):
    answer = send_raw_once("127.0.0.1", osp.port, raw.replace(b"HOST", osp.host.encode()))
    assert_osp_error(parse_response(answer), 400, code)
    assert number_of_responses(answer) == 1, answer
    assert journal.journal() == []
    assert_still_serving(osp_s3, backend_s3, prefix)


# -- request smuggling ------------------------------------------------------------------------

# Each: the framing headers plus body that follow a correctly signed `PUT` head. A request a
# lenient parser would read differently from a strict one is refused outright, connection closed.
SMUGGLING = {
    "content-length-then-transfer-encoding": b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "transfer-encoding-then-content-length": b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    "duplicate-content-length-equal": b"Content-Length: 2\r\nContent-Length: 2\r\n\r\nab",
    "duplicate-content-length-different": b"Content-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
    "content-length-list": b"Content-Length: 2, 2\r\n\r\nab",
    "content-length-negative": b"Content-Length: -1\r\n\r\nab",
    "content-length-plus-sign": b"Content-Length: +2\r\n\r\nab",
    "content-length-non-numeric": b"Content-Length: abc\r\n\r\nab",
    "content-length-overflowing": b"Content-Length: 99999999999999999999\r\n\r\nab",
    "transfer-encoding-chunked-identity": b"Transfer-Encoding: chunked, identity\r\n\r\n2\r\nab\r\n0\r\n\r\n",
    "transfer-encoding-space-before-colon": b"Transfer-Encoding : chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
    "transfer-encoding-xchunked": b"Transfer-Encoding: xchunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
    "transfer-encoding-identity": b"Transfer-Encoding: identity\r\n\r\nab",
    "chunk-size-not-hex": b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
    "chunk-size-overflowing": b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nab\r\n0\r\n\r\n",
    "chunk-without-crlf": b"Transfer-Encoding: chunked\r\n\r\n2\r\nabXY3\r\nabc\r\n0\r\n\r\n",
}


def test_two_host_headers_are_refused(osp, osp_s3, backend_s3, journal, good, prefix):
    """RFC 9112 §3.2: 400. Which Host names a virtual-host bucket must not depend on who reads them."""
    key = f"{prefix}k"
    raw = (signed_head(good, "PUT", f"/{ALIAS_BUCKET}/{key}") + f"Host: {ALIAS_BUCKET}.s3.local\r\n".encode()
           + b"Content-Length: 2\r\n\r\nab")
    assert_osp_error(parse_response(send_raw_once("127.0.0.1", osp.port, raw)), 400, "InvalidRequest")
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)
    assert_still_serving(osp_s3, backend_s3, prefix)


@pytest.mark.parametrize("framing", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_ambiguous_framing_is_refused(osp, osp_s3, backend_s3, journal, good, prefix, framing):
    key = f"{prefix}k"
    raw = signed_head(good, "PUT", f"/{ALIAS_BUCKET}/{key}") + framing
    answer = send_raw_once("127.0.0.1", osp.port, raw)
    assert_osp_error(parse_response(answer), *BAD_FRAMING)
    assert number_of_responses(answer) == 1, answer
    assert parse_response(answer).headers.get("connection") == "close"
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)
    assert_still_serving(osp_s3, backend_s3, prefix)


@pytest.mark.parametrize("carrier", [
    "content-length-then-transfer-encoding", "transfer-encoding-then-content-length", "chunked-body",
    "unsigned-put-body", "unsigned-put-body-with-expect", "get-body", "after-bad-content-length",
])
def test_request_hidden_in_a_body_is_never_executed(osp, osp_s3, backend_s3, journal, good, prefix, carrier):
    """A complete, validly signed DELETE of an existing object, hidden where a parser that disagrees
    with osp's about where the first request ends would find it."""
    victim = f"{prefix}victim"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=victim, Body=b"keep me")
    journal.reset()
    hidden = serialize(good.prepare("DELETE", f"/{ALIAS_BUCKET}/{victim}"))
    head = f"PUT /{ALIAS_BUCKET}/{prefix}carrier HTTP/1.1\r\nHost: {osp.host}\r\n".encode()
    raw = {
        "content-length-then-transfer-encoding":
            head + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % (5 + len(hidden)) + hidden,
        "transfer-encoding-then-content-length":
            head + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n" + hidden,
        "chunked-body": head + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(hidden) + hidden + b"\r\n0\r\n\r\n",
        "unsigned-put-body": head + b"Content-Length: %d\r\n\r\n" % len(hidden) + hidden,
        "unsigned-put-body-with-expect":
            head + b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(hidden) + hidden,
        "get-body": head.replace(b"PUT ", b"GET ", 1) + b"Content-Length: %d\r\n\r\n" % len(hidden) + hidden,
        "after-bad-content-length": head + b"Content-Length: abc\r\n\r\n" + hidden,
    }[carrier]
    answer = send_raw_once("127.0.0.1", osp.port, raw)
    assert number_of_responses(answer) == 1, answer
    assert_osp_error(parse_response(answer), (400, 403), ("InvalidRequest", "AccessDenied"))
    assert journal.journal() == []
    assert stored_bytes(backend_s3, REAL_BUCKET, victim) == b"keep me"
    assert_still_serving(osp_s3, backend_s3, prefix)


# -- absurd x-amz-decoded-content-length on a correctly signed streaming PUT --------------------

def streaming_put(signer: sig.RequestSigner, path: str, body: bytes, mode: str, decoded_length: str | None,
                  chunk_size: int = 8192) -> sig.PreparedRequest:
    """An aws-chunked PUT whose signed `x-amz-decoded-content-length` is `decoded_length`, whatever it
    says, or absent for None (s3client's `prepare` always writes the true length, so this signs by hand)."""
    amz_date = sig.amz_now()
    date = amz_date[:8]
    headers = {"host": signer.host, "x-amz-date": amz_date, "x-amz-content-sha256": mode,
               "content-encoding": "aws-chunked"}
    if decoded_length is not None:
        headers["x-amz-decoded-content-length"] = decoded_length
    if mode != sig.SIGNED_CHUNKS:
        headers["x-amz-trailer"] = "x-amz-checksum-crc32"
    canonical, signed_names = signer._canonical("PUT", path, "", headers, mode)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, signer.scope(date),
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = signer.signing_key(date)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    trailer = ("x-amz-checksum-crc32", sig.checksum_b64("crc32", body))
    if mode == sig.UNSIGNED_TRAILER:
        wire = sig.encode_unsigned_chunks(body, chunk_size, trailer)
    else:
        wire = sig.encode_signed_chunks(body, chunk_size, key, amz_date, signer.scope(date), signature,
                                        trailer if mode == sig.SIGNED_CHUNKS_TRAILER else None)
    authorization = (f"AWS4-HMAC-SHA256 Credential={signer.credentials.access_key}/{signer.scope(date)}, "
                     f"SignedHeaders={signed_names}, Signature={signature}")
    return sig.PreparedRequest("PUT", path, [*headers.items(), ("Authorization", authorization),
                                             ("Content-Length", str(len(wire)))], wire)


DECODED_LENGTHS = {
    "negative": "-5",
    "non-numeric": "abc",
    "empty": "",
    "hexadecimal": "0x4e20",
    "exponent": "2e4",
    "list": "20000,20000",
    "larger-than-content-length": "999999",
    "int64-max": str(2**63 - 1),
    "two-to-the-63": str(2**63),
}


@pytest.mark.parametrize("mode", [sig.SIGNED_CHUNKS, sig.SIGNED_CHUNKS_TRAILER, sig.UNSIGNED_TRAILER],
                         ids=["signed-chunks", "signed-chunks-trailer", "unsigned-trailer"])
@pytest.mark.parametrize("decoded_length", DECODED_LENGTHS.values(), ids=DECODED_LENGTHS.keys())
def test_absurd_decoded_content_length_is_refused_before_the_backend(osp, osp_s3, backend_s3, journal, good,
                                                                      prefix, mode, decoded_length):
    key = f"{prefix}k"
    request = streaming_put(good, f"/{ALIAS_BUCKET}/{key}", b"x" * 20_000, mode, decoded_length)
    answer = send_raw_once("127.0.0.1", osp.port, serialize(request))
    assert_osp_error(parse_response(answer), 400, "InvalidArgument")
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)
    assert_still_serving(osp_s3, backend_s3, prefix)


def test_missing_decoded_content_length_is_refused_before_the_backend(osp, backend_s3, journal, good, prefix):
    key = f"{prefix}k"
    request = streaming_put(good, f"/{ALIAS_BUCKET}/{key}", b"y" * 20_000, sig.SIGNED_CHUNKS, None)
    response = parse_response(send_raw_once("127.0.0.1", osp.port, serialize(request)))
    assert_osp_error(response, 411, "MissingContentLength")
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


def test_a_sane_decoded_content_length_still_works(osp, backend_s3, good, prefix):
    """The control case for the refusals above: the same request with the true length is stored."""
    key = f"{prefix}k"
    request = streaming_put(good, f"/{ALIAS_BUCKET}/{key}", b"z" * 20_000, sig.SIGNED_CHUNKS_TRAILER, "20000")
    assert parse_response(send_raw_once("127.0.0.1", osp.port, serialize(request))).status == 200
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"z" * 20_000


# -- garbage Authorization headers --------------------------------------------------------------

def _garbage_authorizations(access_key: str, date: str, signed: str, signature: str) -> dict[str, tuple]:
    """name → (Authorization value, status, code). What osp answers, and S3 would too."""
    credential = f"{access_key}/{date}/{REGION}/s3/aws4_request"
    malformed = (400, "AuthorizationHeaderMalformed")
    return {
        "empty": ("", *malformed),
        "blank": ("   ", *malformed),
        "scheme-alone": ("AWS4-HMAC-SHA256", *malformed),
        "scheme-and-space": ("AWS4-HMAC-SHA256 ", *malformed),
        "no-credential": (f"AWS4-HMAC-SHA256 SignedHeaders={signed}, Signature={signature}", *malformed),
        "no-signed-headers": (f"AWS4-HMAC-SHA256 Credential={credential}, Signature={signature}", *malformed),
        "no-signature": (f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}", *malformed),
        "empty-parameters": ("AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature=", *malformed),
        "parameter-twice": (f"AWS4-HMAC-SHA256 Credential={credential}, Credential={credential}, "
                            f"SignedHeaders={signed}, Signature={signature}", *malformed),
        "unknown-parameter": (f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, "
                              f"Signature={signature}, Extra=1", *malformed),
        "scope-short-date": (f"AWS4-HMAC-SHA256 Credential={access_key}/2024013/{REGION}/s3/aws4_request, "
                             f"SignedHeaders={signed}, Signature={signature}", *malformed),
        "scope-other-date": (f"AWS4-HMAC-SHA256 Credential={access_key}/20200101/{REGION}/s3/aws4_request, "
                             f"SignedHeaders={signed}, Signature={signature}", *malformed),
        "scope-wrong-terminator": (f"AWS4-HMAC-SHA256 Credential={access_key}/{date}/{REGION}/s3/aws5_request, "
                                   f"SignedHeaders={signed}, Signature={signature}", *malformed),
        "scope-missing-fields": (f"AWS4-HMAC-SHA256 Credential={access_key}/{date}/{REGION}, "
                                 f"SignedHeaders={signed}, Signature={signature}", *malformed),
        "scope-wrong-region": (f"AWS4-HMAC-SHA256 Credential={access_key}/{date}/eu-west-9/s3/aws4_request, "
                               f"SignedHeaders={signed}, Signature={signature}", 403, "SignatureDoesNotMatch"),
        "scope-wrong-service": (f"AWS4-HMAC-SHA256 Credential={access_key}/{date}/{REGION}/ec2/aws4_request, "
                                f"SignedHeaders={signed}, Signature={signature}", 403, "SignatureDoesNotMatch"),
        "host-not-signed": (f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=x-amz-date, "
                            f"Signature={signature}", *malformed),
        "signature-not-hex": (f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, "
                              f"Signature={'z' * 64}", *malformed),
        "signature-short": (f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, "
                            f"Signature={signature[:63]}", *malformed),
        "signature-wrong": (f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, "
                            f"Signature={'0' * 64}", 403, "SignatureDoesNotMatch"),
        "huge-value": (f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders={signed}, Signature={signature}, "
                       f"X={'a' * 12_000}", *malformed),
        "over-the-header-limit": ("AWS4-HMAC-SHA256 Credential=" + "A" * 20_000, *TOO_LARGE),
        "sigv2-without-colon": (f"AWS {access_key}", *malformed),
        "sigv2-empty-signature": (f"AWS {access_key}:", *malformed),
        "sigv2-empty-key": ("AWS :c2lnbmF0dXJl", *malformed),
        "sigv2-wrong-signature": (f"AWS {access_key}:bm90LWEtc2lnbmF0dXJl", 403, "SignatureDoesNotMatch"),
        "lowercase-scheme": (f"aws4-hmac-sha256 Credential={credential}, SignedHeaders={signed}, "
                             f"Signature={signature}", *malformed),
        "bearer": ("Bearer x", *malformed),
        "basic": ("Basic YWxpY2U6c2VjcmV0", *malformed),
        "sigv4a": (f"AWS4-ECDSA-P256-SHA256 Credential={credential}, SignedHeaders={signed}, "
                   f"Signature={signature}", 501, "NotImplemented"),
    }


GARBAGE_NAMES = list(_garbage_authorizations("AK", "20240101", "host", "0" * 64))


@pytest.mark.parametrize("name", GARBAGE_NAMES)
def test_garbage_authorization_header_is_refused(osp, osp_s3, backend_s3, journal, good, prefix, name):
    key = f"{prefix}k"
    request = good.prepare("PUT", f"/{ALIAS_BUCKET}/{key}", body=b"payload")
    valid = request.header("authorization")
    signed = valid.split("SignedHeaders=")[1].split(",")[0]
    signature = valid.split("Signature=")[1]
    value, status, code = _garbage_authorizations(CLIENT_KEYS[0], request.header("x-amz-date")[:8], signed,
                                                  signature)[name]
    request.replace_header("authorization", value)
    response = send("127.0.0.1", osp.port, request.method, request.target, request.headers, request.body)
    assert_osp_error(response, status, code)
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)
    assert_still_serving(osp_s3, backend_s3, prefix)


def test_two_authorization_headers_are_refused(osp, backend_s3, journal, good, prefix):
    key = f"{prefix}k"
    request = good.prepare("PUT", f"/{ALIAS_BUCKET}/{key}", body=b"payload")
    request.headers.append(("Authorization", request.header("authorization")))
    response = send("127.0.0.1", osp.port, request.method, request.target, request.headers, request.body)
    assert_osp_error(response, 400, "AuthorizationHeaderMalformed")
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


# -- path tricks against a granted prefix -------------------------------------------------------

SECRET = "secret"
SECRET_BYTES = b"classified"


def _rules_config(port: int, backend_port: int) -> str:
    return policy_osp_config(port, backend_port, f"""  backend: rules
  rules:
    - {{principals: [alice], buckets: [{ALIAS_BUCKET}], prefix: "allowed/", actions: [read, write, list, delete], effect: allow}}
""")


@pytest.fixture(scope="module")
def prefix_osp(backend, workdir):
    """osp where alice may do everything under `allowed/` of proxy-bucket01, and nothing else."""
    port = processes.free_port()
    yield from _running(processes.start_osp(_rules_config(port, backend.port), port, workdir, _osp_env(), "osp-hostile-rules"))


def _decoded(raw_key_path: str) -> str:
    return unquote(raw_key_path, errors="strict")


def _canonical(raw_key_path: str) -> str:
    """S3's canonical form of a raw path: each `/`-separated segment decoded and encoded once (so an
    escaped slash stays escaped, `%2e` becomes `.`)."""
    return "/".join(quote(unquote(segment, errors="strict"), safe="-._~") for segment in raw_key_path.split("/"))


# The raw path after `/proxy-bucket01/`: sent exactly like this, signed over its canonical form.
PATH_TRICKS = {
    "dot-dot": "allowed/../secret",
    "encoded-dot-dot": "allowed/%2e%2e/secret",
    "encoded-dot-dot-uppercase": "allowed/%2E%2E/secret",
    "encoded-slashes": "allowed%2f..%2fsecret",
    "dot-dot-encoded-slash": "allowed/..%2fsecret",
    "double-slash": "/secret",
    "dot-then-dot-dot": "allowed/./../secret",
    "leading-dot": "./secret",
    "dot-dot-backslash": "allowed/..%5csecret",
    "double-encoded-dot-dot": "allowed/%252e%252e/secret",
    "dot-dot-to-the-backend-bucket": f"allowed/../../{REAL_BUCKET}/secret",
    "nul-then-dot-dot": "allowed/%00/../secret",
    "semicolon": "allowed/..;/secret",
    "trailing-dot-dot": "allowed/..",
}


def _has_dot_segment(key: str) -> bool:
    """A `.` or `..` segment, with `/` or `\\` between segments: what osp refuses by default."""
    return any(segment in (".", "..") for segment in key.replace("\\", "/").split("/"))


@pytest.mark.parametrize("method", ["GET", "PUT"])
@pytest.mark.parametrize("raw_key_path", PATH_TRICKS.values(), ids=PATH_TRICKS.keys())
def test_path_tricks_never_reach_the_secret(prefix_osp, backend_s3, journal, method, raw_key_path):
    """A key with a `.` or `..` segment (however encoded) is refused as InvalidArgument before
    anything else; any other key is taken literally: refused (AccessDenied) unless the literal key
    lies under `allowed/`, and then forwarded as that exact path. `secret` is never read or written."""
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=SECRET, Body=SECRET_BYTES)
    journal.reset()
    key = _decoded(raw_key_path)
    signer = sig.RequestSigner(sig.Credentials(*CLIENT_KEYS), prefix_osp.host)
    body = b"overwrite attempt" if method == "PUT" else b""
    request = signer.prepare(method, f"/{ALIAS_BUCKET}/{_canonical(raw_key_path)}", body=body)
    request.target = f"/{ALIAS_BUCKET}/{raw_key_path}"  # the signature is over the canonical form
    response = send("127.0.0.1", prefix_osp.port, method, request.target, request.headers, request.body)

    entries = journal.journal()
    if _has_dot_segment(key):
        assert_osp_error(response, 400, "InvalidArgument")
        assert entries == []
    elif not key.startswith("allowed/"):
        assert_osp_error(response, 403, "AccessDenied")
        assert entries == []
    else:
        # Taken literally: allowed only because the literal key is under the grant.
        assert response.status in (200, 404), response
        assert [(e["method"], e["path"]) for e in entries] == [(method, f"/{REAL_BUCKET}/{raw_key_path}")]
        if method == "PUT":
            assert response.status == 200, response
            assert stored_bytes(backend_s3, REAL_BUCKET, key) == body
            backend_s3.delete_object(Bucket=REAL_BUCKET, Key=key)
    assert all(e["path"] != f"/{REAL_BUCKET}/{SECRET}" for e in entries)
    assert stored_bytes(backend_s3, REAL_BUCKET, SECRET) == SECRET_BYTES


def test_every_kind_of_outcome_is_among_the_path_tricks():
    """The tricks above cover all three outcomes, so none of the branches is dead."""
    keys = [_decoded(raw) for raw in PATH_TRICKS.values()]
    assert any(_has_dot_segment(k) for k in keys)
    assert any(not _has_dot_segment(k) and not k.startswith("allowed/") for k in keys)
    assert any(not _has_dot_segment(k) and k.startswith("allowed/") for k in keys)


def test_the_prefix_osp_still_serves_its_grant_after_the_path_tricks(prefix_osp, backend_s3):
    client = s3_client(prefix_osp.url, CLIENT_KEYS)
    client.put_object(Bucket=ALIAS_BUCKET, Key="allowed/control", Body=b"ok")
    assert client.get_object(Bucket=ALIAS_BUCKET, Key="allowed/control")["Body"].read() == b"ok"

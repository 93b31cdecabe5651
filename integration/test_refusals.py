"""Requests osp must refuse itself: right status, S3 error code, and nothing forwarded to the backend.

The holes the original product let through (unsigned requests, `Expect: 100-continue`, `uploadId`
requests, forged chunk signatures, stale signatures, virtual-host requests, backend keys, cached
decisions) are in test_security_regressions.py; malformed HTTP, smuggling and path tricks are in
test_hostile_http.py.
"""
from __future__ import annotations

import base64
import hashlib

import pytest

from conftest import ALIAS_BUCKET, OPEN_BUCKET, REAL_BUCKET
from osptest.clients import CLIENT_KEYS
from osptest.s3checks import assert_s3_error, data, exists_at_backend
from s3client import signer as sig
from s3client.http import parse_status, send, send_prepared, send_raw, serialize

pytestmark = pytest.mark.usefixtures("osp")


@pytest.fixture
def good(osp) -> sig.RequestSigner:
    return sig.RequestSigner(sig.Credentials(*CLIENT_KEYS), osp.host)


def signer_with(osp, access_key: str, secret: str) -> sig.RequestSigner:
    return sig.RequestSigner(sig.Credentials(access_key, secret), osp.host)


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def to_osp(osp, request: sig.PreparedRequest):
    return send_prepared("127.0.0.1", osp.port, request)


def test_wrong_secret_is_signature_does_not_match(osp, backend_s3, journal, prefix):
    request = signer_with(osp, CLIENT_KEYS[0], "wrong").prepare("PUT", f"/{ALIAS_BUCKET}/{prefix}k", body=b"x")
    assert_s3_error(to_osp(osp, request), 403, "SignatureDoesNotMatch")
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}k")


def test_unknown_access_key_is_invalid_access_key_id(osp, journal, prefix):
    request = signer_with(osp, "AKIDUNKNOWN", "whatever").prepare("GET", f"/{ALIAS_BUCKET}/{prefix}k")
    assert_s3_error(to_osp(osp, request), 403, "InvalidAccessKeyId")
    assert journal.journal() == []


def test_presign_expiring_after_more_than_a_week_is_a_query_parameters_error(osp, good, journal, prefix):
    target = good.presign("GET", f"/{ALIAS_BUCKET}/{prefix}k", expires=604801)
    assert_s3_error(send("127.0.0.1", osp.port, "GET", target, [("Host", osp.host)]),
                    400, "AuthorizationQueryParametersError")
    assert journal.journal() == []


def test_tampered_presign_is_signature_does_not_match(osp, good, backend_s3, journal, prefix):
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}other", Body=b"secret")
    target = good.presign("GET", f"/{ALIAS_BUCKET}/{prefix}mine", expires=300)
    journal.reset()
    tampered = target.replace(f"{prefix}mine", f"{prefix}other")
    assert_s3_error(send("127.0.0.1", osp.port, "GET", tampered, [("Host", osp.host)]), 403, "SignatureDoesNotMatch")
    assert journal.journal() == []


def backend_puts(journal) -> list[dict]:
    return [entry for entry in journal.journal() if entry["method"] == "PUT"]


@pytest.mark.parametrize("size", [8, 3 << 20])
def test_body_changed_after_signing_is_refused_by_osp_before_the_backend_has_it(osp, good, backend_s3, journal,
                                                                               prefix, size):
    """The signature covers `x-amz-content-sha256`, not the body: osp hashes the body as it streams
    and judges the read that completes it before forwarding that read, so a swapped body is 400
    XAmzContentSHA256Mismatch and the backend never receives a whole request to judge (its journal
    has no PUT, or one cut off inside its body) — whether or not it would have checked the hash."""
    original = data(size, "original")
    request = good.prepare("PUT", f"/{ALIAS_BUCKET}/{prefix}k", body=original)
    request.body = original[:-1] + b"!"  # the same length, the last byte changed
    journal.reset()
    assert_s3_error(to_osp(osp, request), 400, "XAmzContentSHA256Mismatch")
    # A large body has partly gone through when its last read is judged: the backend saw the
    # connection end inside it.
    assert [entry["error"] for entry in backend_puts(journal)] in ([], ["IncompleteBody"])
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}k")


def test_a_chunked_body_changed_after_signing_is_refused_before_its_end_is_forwarded(osp, good, backend_s3,
                                                                                    journal, prefix):
    """A body of unknown length (`Transfer-Encoding: chunked`) is judged when it ends, before the end
    goes to the backend."""
    request = good.prepare("PUT", f"/{ALIAS_BUCKET}/{prefix}k", body=b"original body")
    headers = [(n, v) for n, v in request.headers if n.lower() != "content-length"]
    headers.append(("Transfer-Encoding", "chunked"))
    head = f"PUT {request.target} HTTP/1.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n"
    body = b"8\r\ntampered\r\n5\r\n body\r\n0\r\n\r\n"
    journal.reset()
    answer = send_raw("127.0.0.1", osp.port, head.encode() + body)
    assert parse_status(answer) == 400 and b"<Code>XAmzContentSHA256Mismatch</Code>" in answer, answer
    assert [entry["error"] for entry in backend_puts(journal)] in ([], ["IncompleteBody"])
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}k")
    # The same request with the signed body goes on (and the backend, like S3, wants a
    # Content-Length for a PUT: its 411 shows the request reached it whole).
    signed_body = b"8\r\noriginal\r\n5\r\n body\r\n0\r\n\r\n"
    assert parse_status(send_raw("127.0.0.1", osp.port, head.encode() + signed_body)) == 411
    assert len(backend_puts(journal)) >= 1


def test_a_request_without_a_body_that_signs_the_hash_of_one_is_refused(osp, good, journal, prefix):
    request = good.prepare("GET", f"/{ALIAS_BUCKET}/{prefix}k", payload_mode=sha256_hex(b"a body"))
    assert_s3_error(to_osp(osp, request), 400, "XAmzContentSHA256Mismatch")
    assert journal.journal() == []


def test_delete_objects_whose_key_list_was_changed_after_signing_deletes_nothing(osp, good, backend_s3, journal, prefix):
    """DeleteObjects is judged key by key from its body, so the body is checked before anything else:
    a key list swapped under a signed request is refused and nothing reaches the backend."""
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}keep", Body=b"keep")
    signed = f"<Delete><Object><Key>{prefix}gone</Key></Object></Delete>".encode()
    swapped = f"<Delete><Object><Key>{prefix}keep</Key></Object></Delete>".encode()
    assert len(signed) == len(swapped)
    md5 = base64.b64encode(hashlib.md5(swapped).digest()).decode()
    request = good.prepare("POST", f"/{ALIAS_BUCKET}", query=[("delete", "")], body=signed,
                           unsigned_headers={"Content-MD5": md5})
    request.body = swapped
    journal.reset()
    assert_s3_error(to_osp(osp, request), 400, "XAmzContentSHA256Mismatch")
    assert journal.journal() == []
    assert exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}keep")


@pytest.mark.parametrize("header, original, changed", [
    ("x-amz-meta-colour", "blue", "red"),
    ("Range", "bytes=0-3", "bytes=0-9"),
    ("Content-Type", "text/plain", "text/html"),
])
def test_header_changed_after_signing_is_refused(osp, good, backend_s3, journal, prefix, header, original, changed):
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}k", Body=b"0123456789")
    journal.reset()
    method = "GET" if header == "Range" else "PUT"
    request = good.prepare(method, f"/{ALIAS_BUCKET}/{prefix}k", headers={header: original},
                           body=b"" if method == "GET" else b"new")
    request.replace_header(header.lower(), changed)
    assert_s3_error(to_osp(osp, request), 403, "SignatureDoesNotMatch")
    assert journal.journal() == []


def test_forged_trailer_checksum_stores_nothing(osp, good, backend_s3, journal, prefix):
    key = f"{prefix}k"
    body = data(100_000)
    request = good.prepare("PUT", f"/{ALIAS_BUCKET}/{key}", body=body, payload_mode=sig.UNSIGNED_TRAILER)
    request.body = request.body.replace(body[:1000], b"\0" * 1000)
    response = to_osp(osp, request)
    assert response.status == 400, response
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


@pytest.mark.parametrize("mode", [sig.SIGNED_CHUNKS, sig.UNSIGNED_TRAILER, sig.HEX])
def test_truncated_body_stores_nothing(osp, good, backend_s3, journal, prefix, mode):
    key = f"{prefix}k"
    request = good.prepare("PUT", f"/{ALIAS_BUCKET}/{key}", body=data(200_000), payload_mode=mode, chunk_size=65536)
    raw = serialize(request)
    answer = send_raw("127.0.0.1", osp.port, raw[: len(raw) - 70_000], half_close=True)
    status = parse_status(answer)
    assert status == 0 or 400 <= status < 500, answer[:300]
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)
    assert [e for e in journal.journal() if e["verdict"] == "accepted" and e["method"] == "PUT"] == []


def test_unknown_bucket_without_wildcard_route_is_no_such_bucket(osp_strict, journal, prefix):
    request = sig.RequestSigner(sig.Credentials(*CLIENT_KEYS), osp_strict.host).prepare(
        "GET", f"/{OPEN_BUCKET}/{prefix}k")
    assert_s3_error(send_prepared("127.0.0.1", osp_strict.port, request), 404, "NoSuchBucket")
    assert journal.journal() == []


def test_bucket_missing_at_the_wildcard_backend_is_no_such_bucket_from_the_backend(osp, good, journal, prefix):
    response = to_osp(osp, good.prepare("GET", f"/no-such-bucket-anywhere/{prefix}k"))
    assert (response.status, response.error_code) == (404, "NoSuchBucket"), response
    assert [e["error"] if e["verdict"] == "refused" else e["status"] for e in journal.journal()] == [404]



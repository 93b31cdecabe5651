"""Requests osp must refuse itself: right status, S3 error code, and nothing forwarded to the backend."""
from __future__ import annotations

import socket
import time

import pytest

from conftest import ALIAS_BUCKET, OPEN_BUCKET, REAL_BUCKET
from osptest.clients import CLIENT_KEYS, botocore_signed
from osptest.s3checks import assert_s3_error, data, exists_at_backend
from s3client import signer as sig
from s3client.http import parse_status, send, send_prepared, send_raw, serialize

pytestmark = pytest.mark.usefixtures("osp")


@pytest.fixture
def good(osp) -> sig.RequestSigner:
    return sig.RequestSigner(sig.Credentials(*CLIENT_KEYS), osp.host)


def signer_with(osp, access_key: str, secret: str) -> sig.RequestSigner:
    return sig.RequestSigner(sig.Credentials(access_key, secret), osp.host)


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


def test_backend_keys_are_not_client_keys(osp, journal, prefix):
    from osptest.clients import BACKEND_KEYS

    request = signer_with(osp, *BACKEND_KEYS).prepare("GET", f"/{ALIAS_BUCKET}/{prefix}k")
    assert_s3_error(to_osp(osp, request), 403, "InvalidAccessKeyId")
    assert journal.journal() == []


def test_no_signature_is_access_denied(osp, journal, prefix):
    response = send("127.0.0.1", osp.port, "GET", f"/{ALIAS_BUCKET}/{prefix}k", [("Host", osp.host)])
    assert_s3_error(response, 403, "AccessDenied")
    response = send("127.0.0.1", osp.port, "PUT", f"/{ALIAS_BUCKET}/{prefix}k",
                    [("Host", osp.host), ("Content-Length", "3")], b"abc")
    assert_s3_error(response, 403, "AccessDenied")
    assert journal.journal() == []


@pytest.mark.parametrize("offset", [-20 * 60, 20 * 60, 2 * 24 * 3600], ids=["20min-past", "20min-future", "2days"])
def test_skewed_date_is_request_time_too_skewed(osp, good, journal, prefix, offset):
    request = good.prepare("PUT", f"/{ALIAS_BUCKET}/{prefix}k", body=b"x", amz_date=sig.amz_now(offset))
    assert_s3_error(to_osp(osp, request), 403, "RequestTimeTooSkewed")
    assert journal.journal() == []


def test_expired_presign_is_access_denied(osp, good, journal, prefix):
    target = good.presign("GET", f"/{ALIAS_BUCKET}/{prefix}k", expires=60, amz_date=sig.amz_now(-600))
    assert_s3_error(send("127.0.0.1", osp.port, "GET", target, [("Host", osp.host)]), 403, "AccessDenied")
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


def test_body_changed_after_signing_never_reaches_the_backend_as_an_object(osp, good, backend_s3, journal, prefix):
    request = good.prepare("PUT", f"/{ALIAS_BUCKET}/{prefix}k", body=b"original")
    request.body = b"tampered"
    response = to_osp(osp, request)
    assert response.status == 400 and response.error_code == "XAmzContentSHA256Mismatch", response
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}k")


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


def _flip_chunk_signature(body: bytes, chunk_number: int) -> bytes:
    marker = b";chunk-signature="
    position = -1
    for _ in range(chunk_number):
        position = body.index(marker, position + 1)
    at = position + len(marker)
    return body[:at] + (b"0" if body[at:at + 1] != b"0" else b"1") + body[at + 1:]


@pytest.mark.parametrize("chunk_number", [1, 2, 4], ids=["first", "middle", "final-empty"])
@pytest.mark.parametrize("mode", [sig.SIGNED_CHUNKS, sig.SIGNED_CHUNKS_TRAILER])
def test_forged_chunk_signature_stores_nothing(osp, good, backend_s3, journal, prefix, mode, chunk_number):
    key = f"{prefix}k"
    request = good.prepare("PUT", f"/{ALIAS_BUCKET}/{key}", body=data(3 * 65536), payload_mode=mode, chunk_size=65536)
    request.body = _flip_chunk_signature(request.body, chunk_number)
    response = to_osp(osp, request)
    assert response.status == 403 and response.error_code in ("SignatureDoesNotMatch", None), response
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)
    # the backend may have seen an aborted request, but never an accepted one
    assert [e for e in journal.journal() if e["verdict"] == "accepted" and e["method"] == "PUT"] == []


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


def test_expect_100_continue_with_bad_signature_gets_the_final_403_without_100(osp, journal, prefix):
    request = signer_with(osp, CLIENT_KEYS[0], "wrong").prepare(
        "PUT", f"/{ALIAS_BUCKET}/{prefix}k", body=data(100_000), payload_mode=sig.UNSIGNED)
    request.headers.append(("Expect", "100-continue"))
    head = serialize(request)[: -len(request.body)]
    with socket.create_connection(("127.0.0.1", osp.port), timeout=30) as sock:
        sock.sendall(head)  # headers only: a correct server answers 403 without waiting for the body
        received = b""
        deadline = time.monotonic() + 30
        while b"\r\n\r\n" not in received and time.monotonic() < deadline:
            piece = sock.recv(65536)
            if not piece:
                break
            received += piece
    assert not received.startswith(b"HTTP/1.1 100"), received[:200]
    assert parse_status(received) == 403, received[:300]
    assert b"100 Continue" not in received
    assert journal.journal() == []


def test_bad_signature_on_upload_part_and_complete(osp, osp_s3, good, backend_s3, journal, prefix):
    key = f"{prefix}mp"
    upload_id = osp_s3.create_multipart_upload(Bucket=ALIAS_BUCKET, Key=key)["UploadId"]
    journal.reset()
    bad = signer_with(osp, CLIENT_KEYS[0], "wrong")
    part = bad.prepare("PUT", f"/{ALIAS_BUCKET}/{key}", query={"partNumber": "1", "uploadId": upload_id},
                       body=data(200_000))
    assert_s3_error(to_osp(osp, part), 403, "SignatureDoesNotMatch")
    complete_xml = (b'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part>'
                    b"</CompleteMultipartUpload>")
    complete = bad.prepare("POST", f"/{ALIAS_BUCKET}/{key}", query={"uploadId": upload_id}, body=complete_xml)
    assert_s3_error(to_osp(osp, complete), 403, "SignatureDoesNotMatch")
    assert journal.journal() == []
    assert backend_s3.list_parts(Bucket=REAL_BUCKET, Key=key, UploadId=upload_id).get("Parts", []) == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)
    osp_s3.abort_multipart_upload(Bucket=ALIAS_BUCKET, Key=key, UploadId=upload_id)


def test_bad_signature_on_virtual_host_request(osp, journal, prefix):
    host = f"{ALIAS_BUCKET}.s3.local:{osp.port}"
    target, headers = botocore_signed("GET", f"{osp.url}/{prefix}k", (CLIENT_KEYS[0], "wrong"), headers={"host": host})
    assert_s3_error(send("127.0.0.1", osp.port, "GET", target, headers), 403, "SignatureDoesNotMatch")
    assert journal.journal() == []


def test_unknown_bucket_without_wildcard_route_is_no_such_bucket(osp_strict, journal, prefix):
    request = sig.RequestSigner(sig.Credentials(*CLIENT_KEYS), osp_strict.host).prepare(
        "GET", f"/{OPEN_BUCKET}/{prefix}k")
    assert_s3_error(send_prepared("127.0.0.1", osp_strict.port, request), 404, "NoSuchBucket")
    assert journal.journal() == []


def test_bucket_missing_at_the_wildcard_backend_is_no_such_bucket_from_the_backend(osp, good, journal, prefix):
    response = to_osp(osp, good.prepare("GET", f"/no-such-bucket-anywhere/{prefix}k"))
    assert (response.status, response.error_code) == (404, "NoSuchBucket"), response
    assert [e["error"] if e["verdict"] == "refused" else e["status"] for e in journal.journal()] == [404]


@pytest.mark.parametrize("raw, code", [
    (b"PUT /proxy-bucket01/smuggled HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\n\r\n", "InvalidRequest"),
    (b"PUT /proxy-bucket01/dup HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
     "InvalidRequest"),
    (b"GET /proxy-bucket01/k HTTP/1.1\r\nHost: x\r\n" + b"".join(b"x-h%d: v\r\n" % i for i in range(300)) + b"\r\n",
     "RequestHeaderSectionTooLarge"),
    (b"\x01\x02 garbage\r\n\r\n", "InvalidRequest"),
], ids=["content-length-with-transfer-encoding", "duplicate-content-length", "300-headers", "garbage"])
def test_malformed_http_gets_an_s3_error_and_osp_keeps_serving(osp, osp_s3, journal, raw, code):
    answer = send_raw("127.0.0.1", osp.port, raw)
    assert parse_status(answer) == 400, answer[:200]
    assert f"<Code>{code}</Code>".encode() in answer, answer[:400]
    assert journal.journal() == []
    assert osp_s3.list_objects_v2(Bucket=ALIAS_BUCKET, MaxKeys=1)["ResponseMetadata"]["HTTPStatusCode"] == 200

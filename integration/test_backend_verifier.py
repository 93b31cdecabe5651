"""The verifying backend itself: real clients talking straight to it work, tampered requests don't.

If these fail, nothing the osp suite says can be trusted, so they run without osp.
"""
from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from osptest.clients import BACKEND_KEYS, AwsCli, error_code, force_trailer_checksums, s3_client, temp_file
from osptest.s3checks import flip_chunk_signature
from s3client import signer as sig
from s3client.http import Response, parse_status, send, send_prepared, send_raw, serialize

BUCKET = "verifier-bucket"
AWKWARD_KEYS = ["a+b", "a b", "a%20b", "x@y", "(p)", "eq=", "amp&", "c:d", "co,ma", "semi;", "$d", "ex!",
                "st*r", "q'uote", "ü/日本", "dir//double", "trailing/", "~tilde", "dot/./seg", "dot/../seg"]
SIZES = [0, 1, 65536, 1024 * 1024 + 3]


@pytest.fixture(scope="module")
def s3(backend):
    client = s3_client(backend.url, BACKEND_KEYS)
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def signer(backend) -> sig.RequestSigner:
    return sig.RequestSigner(sig.Credentials(*BACKEND_KEYS), f"127.0.0.1:{backend.port}")


def send_to(backend, request: sig.PreparedRequest) -> Response:
    return send_prepared("127.0.0.1", backend.port, request)


def object_exists(s3, key: str) -> bool:
    try:
        s3.head_object(Bucket=BUCKET, Key=key)
        return True
    except ClientError as error:
        if error.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise


def body_of(s3, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def payload(size: int) -> bytes:
    return (hashlib.sha256(str(size).encode()).digest() * (size // 32 + 1))[:size]


# --- real clients are accepted -------------------------------------------------------------------

def test_boto3_put_get_head_and_list_with_delimiter(s3, journal, prefix):
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}one", Body=b"first")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}sub/two", Body=b"second")
    assert body_of(s3, f"{prefix}one") == b"first"
    assert s3.head_object(Bucket=BUCKET, Key=f"{prefix}sub/two")["ContentLength"] == 6
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix, Delimiter="/")
    assert [o["Key"] for o in listing["Contents"]] == [f"{prefix}one"]
    assert [p["Prefix"] for p in listing["CommonPrefixes"]] == [f"{prefix}sub/"]
    legacy = s3.list_objects(Bucket=BUCKET, Prefix=prefix, Delimiter="/")
    assert [p["Prefix"] for p in legacy["CommonPrefixes"]] == [f"{prefix}sub/"]
    entries = journal.journal()
    assert entries and all(e["verdict"] == "accepted" and e["auth"] == "header-v4" for e in entries)
    assert all("authorization" not in e["headers"] for e in entries)


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_boto3_round_trips_awkward_keys(s3, prefix, key):
    s3.put_object(Bucket=BUCKET, Key=prefix + key, Body=key.encode())
    assert body_of(s3, prefix + key) == key.encode()
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)["Contents"]]
    assert listed == [prefix + key]


def test_boto3_multipart_upload(s3, prefix):
    key = f"{prefix}multi"
    parts = [payload(5 * 1024 * 1024) , b"tail-part"]
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)
    etags = [s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], PartNumber=n + 1,
                            Body=part)["ETag"] for n, part in enumerate(parts)]
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], MultipartUpload={
        "Parts": [{"ETag": etag, "PartNumber": n + 1} for n, etag in enumerate(etags)]})
    assert body_of(s3, key) == b"".join(parts)


def test_boto3_upload_file_over_tls_uses_unsigned_trailer_and_is_verified(tls_backend, workdir, prefix):
    client = s3_client(tls_backend.url, BACKEND_KEYS, verify=False)
    client.create_bucket(Bucket="tls-bucket")
    path = temp_file(workdir, 20 * 1024 * 1024, seed=20)
    admin_url = tls_backend.url
    from osptest.clients import BackendAdmin
    admin = BackendAdmin(admin_url)
    admin.reset()
    client.upload_file(path, "tls-bucket", f"{prefix}big")
    with open(path, "rb") as handle:
        expected = handle.read()
    assert client.get_object(Bucket="tls-bucket", Key=f"{prefix}big")["Body"].read() == expected
    uploads = [e for e in admin.journal() if e["method"] == "PUT"]
    assert uploads, "no upload reached the backend"
    assert {e["payload_mode"] for e in uploads} == {sig.UNSIGNED_TRAILER}
    assert all(e["verdict"] == "accepted" and e["checksums_verified"] == ["x-amz-checksum-crc32"]
               for e in uploads)


def test_botocore_trailer_mode_forced_over_http_is_verified(s3, journal, prefix):
    client = s3_client(s3.meta.endpoint_url, BACKEND_KEYS)
    force_trailer_checksums(client)
    client.put_object(Bucket=BUCKET, Key=f"{prefix}t", Body=payload(100_000))
    assert body_of(s3, f"{prefix}t") == payload(100_000)
    (entry,) = [e for e in journal.journal() if e["method"] == "PUT"]
    assert entry["payload_mode"] == sig.UNSIGNED_TRAILER
    assert entry["headers"]["transfer-encoding"] == "chunked"
    assert entry["decoded_length"] == 100_000


def test_aws_cli_cp_and_ls(backend, s3, workdir, prefix):
    cli = AwsCli(backend.url, BACKEND_KEYS, workdir)
    path = temp_file(workdir, 9 * 1024 * 1024 + 5, seed=9)  # above the 8 MB threshold: multipart
    cli("s3", "cp", path, f"s3://{BUCKET}/{prefix}cli.bin")
    with open(path, "rb") as handle:
        assert body_of(s3, f"{prefix}cli.bin") == handle.read()
    assert f"{prefix}cli.bin".split("/")[-1] in cli("s3", "ls", f"s3://{BUCKET}/{prefix}").stdout


def test_aws_cli_over_tls(tls_backend, workdir, prefix):
    cli = AwsCli(tls_backend.url, BACKEND_KEYS, workdir, verify_ssl=False)
    cli("s3", "mb", "s3://tls-cli-bucket", check=False)
    path = temp_file(workdir, 300_000, seed=3)
    cli("s3", "cp", path, f"s3://tls-cli-bucket/{prefix}x")
    out = os.path.join(workdir, "tls-cli-download")
    cli("s3", "cp", f"s3://tls-cli-bucket/{prefix}x", out)
    with open(path, "rb") as a, open(out, "rb") as b:
        assert a.read() == b.read()


def test_presigned_v4_get_with_urllib(s3, prefix):
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}a+b (c)", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": f"{prefix}a+b (c)"},
                                    ExpiresIn=60)
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read() == b"presigned"


def test_virtual_host_style_request(backend, s3, signer, prefix):
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}vh", Body=b"virtual")
    signer.host = f"{BUCKET}.localhost:{backend.port}"
    response = send_to(backend, signer.prepare("GET", "/" + sig.encode_key(f"{prefix}vh")))
    assert (response.status, response.body) == (200, b"virtual")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", sig.PAYLOAD_MODES)
def test_every_payload_mode_from_our_signer_is_accepted_and_decoded(backend, s3, signer, journal, prefix,
                                                                     mode, size):
    key = f"{prefix}obj"
    data = payload(size)
    response = send_to(backend, signer.prepare("PUT", f"/{BUCKET}/{sig.encode_key(key)}", body=data,
                                               payload_mode=mode, chunk_size=65536))
    assert response.status == 200, response
    assert body_of(s3, key) == data
    (entry,) = [e for e in journal.journal() if e["method"] == "PUT"]
    assert entry["payload_mode"] == mode
    assert entry["decoded_length"] == size


def test_signed_chunks_keep_other_content_encodings(backend, s3, signer, prefix):
    key = f"{prefix}gz"
    response = send_to(backend, signer.prepare("PUT", f"/{BUCKET}/{key}", body=b"zipped-bytes",
                                               headers={"Content-Encoding": "gzip"},
                                               payload_mode=sig.SIGNED_CHUNKS))
    assert response.status == 200, response
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentEncoding"] == "gzip"


# --- tampered requests are refused, and nothing is stored -----------------------------------------

def assert_refused(response: Response, status: int, code: str):
    assert (response.status, response.error_code) == (status, code), response
    assert response.headers.get("x-amz-request-id")


def test_wrong_secret_is_refused(backend, s3, prefix):
    key = f"{prefix}k"
    signer = sig.RequestSigner(sig.Credentials(BACKEND_KEYS[0], "not-the-secret"), f"127.0.0.1:{backend.port}")
    assert_refused(send_to(backend, signer.prepare("PUT", f"/{BUCKET}/{key}", body=b"x")),
                   403, "SignatureDoesNotMatch")
    assert not object_exists(s3, key)


def test_unknown_access_key_is_refused(backend, s3, prefix):
    key = f"{prefix}k"
    signer = sig.RequestSigner(sig.Credentials("AKIDNOBODY", "whatever"), f"127.0.0.1:{backend.port}")
    assert_refused(send_to(backend, signer.prepare("PUT", f"/{BUCKET}/{key}", body=b"x")),
                   403, "InvalidAccessKeyId")
    assert not object_exists(s3, key)


def test_anonymous_request_is_refused(backend, s3, prefix):
    key = f"{prefix}k"
    response = send("127.0.0.1", backend.port, "PUT", f"/{BUCKET}/{key}",
                    [("Host", f"127.0.0.1:{backend.port}"), ("Content-Length", "1")], b"x")
    assert_refused(response, 403, "AccessDenied")
    assert not object_exists(s3, key)


def test_sigv2_is_refused(backend, s3, prefix):
    key = f"{prefix}k"
    client = s3_client(backend.url, BACKEND_KEYS, signature_version="s3")
    with pytest.raises(ClientError) as raised:
        client.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    assert error_code(raised.value) == "InvalidRequest"
    assert not object_exists(s3, key)


def test_body_changed_after_signing_is_refused(backend, s3, signer, prefix):
    key = f"{prefix}k"
    request = signer.prepare("PUT", f"/{BUCKET}/{key}", body=b"original")
    request.body = b"tampered"
    assert_refused(send_to(backend, request), 400, "XAmzContentSHA256Mismatch")
    assert not object_exists(s3, key)


def test_header_changed_after_signing_is_refused(backend, s3, signer, prefix):
    key = f"{prefix}k"
    request = signer.prepare("PUT", f"/{BUCKET}/{key}", body=b"x", headers={"x-amz-meta-colour": "blue"})
    request.replace_header("x-amz-meta-colour", "red")
    assert_refused(send_to(backend, request), 403, "SignatureDoesNotMatch")
    assert not object_exists(s3, key)


def test_unsigned_amz_header_is_refused(backend, s3, signer, prefix):
    key = f"{prefix}k"
    request = signer.prepare("PUT", f"/{BUCKET}/{key}", body=b"x", unsigned_headers={"x-amz-meta-sneaky": "1"})
    assert_refused(send_to(backend, request), 403, "AccessDenied")
    assert not object_exists(s3, key)


@pytest.mark.parametrize("offset", [-20 * 60, 2 * 24 * 3600])
def test_skewed_date_is_refused(backend, s3, signer, prefix, offset):
    key = f"{prefix}k"
    request = signer.prepare("PUT", f"/{BUCKET}/{key}", body=b"x", amz_date=sig.amz_now(offset))
    assert_refused(send_to(backend, request), 403, "RequestTimeTooSkewed")
    assert not object_exists(s3, key)


def test_expired_presigned_url_is_refused(backend, s3, signer, prefix):
    key = f"{prefix}k"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"secret")
    target = signer.presign("GET", f"/{BUCKET}/{key}", expires=60, amz_date=sig.amz_now(-3600))
    response = send("127.0.0.1", backend.port, "GET", target, [("Host", signer.host)])
    assert_refused(response, 403, "AccessDenied")
    assert b"expired" in response.body


def test_presign_longer_than_a_week_is_refused(backend, s3, signer, prefix):
    target = signer.presign("GET", f"/{BUCKET}/{prefix}k", expires=604801)
    response = send("127.0.0.1", backend.port, "GET", target, [("Host", signer.host)])
    assert_refused(response, 400, "AuthorizationQueryParametersError")


def test_tampered_presigned_url_is_refused(backend, s3, signer, prefix):
    key = f"{prefix}k"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"secret")
    target = signer.presign("GET", f"/{BUCKET}/{key}", expires=60)
    response = send("127.0.0.1", backend.port, "GET", target.replace(key, key + "x"), [("Host", signer.host)])
    assert_refused(response, 403, "SignatureDoesNotMatch")
    response = send("127.0.0.1", backend.port, "GET", target, [("Host", signer.host)])
    assert (response.status, response.body) == (200, b"secret")


@pytest.mark.parametrize("chunk_number", [1, 2, 3])
@pytest.mark.parametrize("mode", [sig.SIGNED_CHUNKS, sig.SIGNED_CHUNKS_TRAILER])
def test_forged_chunk_signature_is_refused(backend, s3, signer, prefix, mode, chunk_number):
    key = f"{prefix}k"
    request = signer.prepare("PUT", f"/{BUCKET}/{key}", body=payload(20000), payload_mode=mode, chunk_size=10000)
    request.body = flip_chunk_signature(request.body, chunk_number)  # chunk 3 is the final empty chunk
    assert_refused(send_to(backend, request), 403, "SignatureDoesNotMatch")
    assert not object_exists(s3, key)


def test_forged_trailer_signature_is_refused(backend, s3, signer, prefix):
    key = f"{prefix}k"
    request = signer.prepare("PUT", f"/{BUCKET}/{key}", body=payload(9000), payload_mode=sig.SIGNED_CHUNKS_TRAILER)
    request.body = request.body.replace(b"x-amz-trailer-signature:", b"x-amz-trailer-signature:0")[:-5] + b"\r\n\r\n"
    request.replace_header("Content-Length", str(len(request.body)))
    assert_refused(send_to(backend, request), 403, "SignatureDoesNotMatch")
    assert not object_exists(s3, key)


@pytest.mark.parametrize("mode", [sig.SIGNED_CHUNKS, sig.UNSIGNED_TRAILER])
def test_truncated_chunked_body_is_refused(backend, s3, signer, prefix, mode):
    key = f"{prefix}k"
    request = signer.prepare("PUT", f"/{BUCKET}/{key}", body=payload(30000), payload_mode=mode, chunk_size=10000)
    request.body = request.body[: len(request.body) // 2]
    request.replace_header("Content-Length", str(len(request.body)))
    assert_refused(send_to(backend, request), 400, "IncompleteBody")
    assert not object_exists(s3, key)


def test_body_shorter_than_content_length_is_refused(backend, s3, signer, prefix):
    key = f"{prefix}k"
    request = signer.prepare("PUT", f"/{BUCKET}/{key}", body=payload(5000), payload_mode=sig.UNSIGNED)
    raw = serialize(request)[:-1000]
    answer = send_raw("127.0.0.1", backend.port, raw, half_close=True)
    assert parse_status(answer) == 400 and b"<Code>IncompleteBody</Code>" in answer, answer[:300]
    assert not object_exists(s3, key)


def test_wrong_decoded_content_length_is_refused(backend, s3, signer, prefix):
    key = f"{prefix}k"
    request = signer.prepare("PUT", f"/{BUCKET}/{key}", body=payload(100), payload_mode=sig.UNSIGNED_TRAILER)
    request.replace_header("x-amz-decoded-content-length", "99")  # unsigned trailer: header is signed,
    assert send_to(backend, request).status in (400, 403)        # so either check may refuse it
    assert not object_exists(s3, key)


def test_wrong_trailer_checksum_is_refused(backend, s3, signer, prefix):
    key = f"{prefix}k"
    request = signer.prepare("PUT", f"/{BUCKET}/{key}", body=payload(100), payload_mode=sig.UNSIGNED_TRAILER)
    request.body = request.body.replace(payload(100), payload(99) + b"!")
    assert_refused(send_to(backend, request), 400, "BadDigest")
    assert not object_exists(s3, key)


def test_chunk_framing_sent_as_plain_data_is_refused(backend, s3, signer, prefix):
    """The bug this backend exists for: a hop re-signs aws-chunked bytes as if they were the object."""
    key = f"{prefix}k"
    framed = sig.encode_unsigned_chunks(payload(1000), 400, ("x-amz-checksum-crc32", sig.checksum_b64("crc32", payload(1000))))
    response = send_to(backend, signer.prepare("PUT", f"/{BUCKET}/{key}", body=framed))
    assert_refused(response, 400, "InvalidRequest")
    assert not object_exists(s3, key)


def test_refusals_are_journaled_without_secrets(backend, signer, journal, prefix):
    request = signer.prepare("PUT", f"/{BUCKET}/{prefix}k", body=b"x", amz_date=sig.amz_now(-3600))
    send_to(backend, request)
    (entry,) = journal.journal()
    assert (entry["verdict"], entry["error"], entry["status"]) == ("refused", "RequestTimeTooSkewed", 403)
    assert "authorization" not in entry["headers"]

"""The verifying backend itself: real clients talking straight to it work, tampered requests don't.

If these fail, nothing the osp suite says can be trusted, so they run without osp.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError

from osptest.clients import BACKEND_KEYS, AwsCli, error_code, force_trailer_checksums, s3_client, temp_file
from osptest.forms import encode_form, flip_hex, post_form, post_form_chunked
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


# --- POST Object: browser forms signed by a SigV4 POST policy -------------------------------------
# boto3's generate_presigned_post (botocore's signer, independent of ours) makes the forms; the
# backend must accept exactly what S3 accepts and store the file part byte for byte.

FORM_FILE = b"line one\r\n--not-a-boundary\r\n\r\n" + payload(70_000) + b"\r\n--"  # framing look-alikes inside


def form_to_backend(backend, fields, file=("photo.bin", FORM_FILE), target=f"/{BUCKET}", host_header=None):
    return post_form("127.0.0.1", backend.port, target, fields, file, host_header=host_header)


def test_post_object_form_is_verified_and_stored_byte_for_byte(backend, s3, journal, prefix):
    """A correct SigV4 form: 204, `ETag` and `Location` headers (moto sends neither; mended), the file
    part stored as the object, `${filename}` in `key` replaced by the file part's filename."""
    post = s3.generate_presigned_post(BUCKET, prefix + "${filename}", ExpiresIn=300)
    assert post["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    response = form_to_backend(backend, post["fields"])
    assert response.status == 204, response
    (entry,) = journal.journal()
    key = f"{prefix}photo.bin"
    assert body_of(s3, key) == FORM_FILE
    assert response.headers["etag"] == s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
    assert response.headers["location"].endswith(f"/{BUCKET}/{key}")
    assert (entry["verdict"], entry["status"], entry["auth"], entry["access_key"]) == (
        "accepted", 204, "form-v4", BACKEND_KEYS[0])
    assert entry["form"]["key"] == key and entry["form"]["file_length"] == len(FORM_FILE)
    assert entry["form"]["fields"]["x-amz-signature"] == post["fields"]["x-amz-signature"]


@pytest.mark.parametrize("style", ["trailing-slash", "virtual-host"])
def test_post_object_form_to_other_bucket_addressings(backend, s3, prefix, style):
    """`POST /bucket/` and `POST /` with `Host: bucket.localhost` are the same bucket's form."""
    post = s3.generate_presigned_post(BUCKET, f"{prefix}k", ExpiresIn=300)
    if style == "trailing-slash":
        response = form_to_backend(backend, post["fields"], target=f"/{BUCKET}/")
    else:
        response = form_to_backend(backend, post["fields"], target="/",
                                   host_header=f"{BUCKET}.localhost:{backend.port}")
    assert response.status == 204, response
    assert body_of(s3, f"{prefix}k") == FORM_FILE
    assert response.headers["location"].endswith(f"{BUCKET}.localhost:{backend.port}/{prefix}k"
                                                 if style == "virtual-host" else f"/{BUCKET}/{prefix}k")


def test_post_object_form_fields_become_content_type_and_metadata(backend, s3, prefix):
    key = f"{prefix}meta"
    post = s3.generate_presigned_post(BUCKET, key, ExpiresIn=300,
                                      Fields={"Content-Type": "text/plain", "x-amz-meta-color": "blue"},
                                      Conditions=[{"Content-Type": "text/plain"}, {"x-amz-meta-color": "blue"}])
    assert form_to_backend(backend, post["fields"]).status == 204
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert (head["ContentType"], head["Metadata"]) == ("text/plain", {"color": "blue"})


def test_post_object_success_action_status_201_is_a_post_response_document(backend, s3, prefix):
    """S3 answers `success_action_status=201` with `<PostResponse>` (moto: an empty body; mended)."""
    key = f"{prefix}created"
    post = s3.generate_presigned_post(BUCKET, key, ExpiresIn=300, Fields={"success_action_status": "201"},
                                      Conditions=[{"success_action_status": "201"}])
    response = form_to_backend(backend, post["fields"])
    assert response.status == 201, response
    document = ET.fromstring(response.body)
    assert document.tag == "PostResponse"
    assert (document.findtext("Bucket"), document.findtext("Key")) == (BUCKET, key)
    assert document.findtext("ETag") == s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
    assert document.findtext("Location").endswith(f"/{BUCKET}/{key}")


def test_post_object_success_action_redirect_is_a_303_with_bucket_key_and_etag(backend, s3, prefix):
    key = f"{prefix}redirected"
    redirect = "http://example.invalid/done?from=form"
    post = s3.generate_presigned_post(BUCKET, key, ExpiresIn=300, Fields={"success_action_redirect": redirect},
                                      Conditions=[{"success_action_redirect": redirect}])
    response = form_to_backend(backend, post["fields"])
    assert response.status == 303, response
    location = response.headers["location"]
    assert location.startswith("http://example.invalid/done?")
    query = parse_qs(urlsplit(location).query)
    assert (query["from"], query["bucket"], query["key"]) == (["form"], [BUCKET], [key])
    assert query["etag"] == [s3.head_object(Bucket=BUCKET, Key=key)["ETag"]]


def test_post_object_content_length_range_is_inclusive(backend, s3, prefix):
    key = f"{prefix}exact"
    post = s3.generate_presigned_post(BUCKET, key, ExpiresIn=300, Conditions=[["content-length-range", 1, 10]])
    assert form_to_backend(backend, post["fields"], file=("f", b"0123456789")).status == 204
    assert body_of(s3, key) == b"0123456789"


def test_post_object_form_sent_chunked_is_accepted(backend, s3, journal, prefix):
    """`Transfer-Encoding: chunked` without Content-Length: S3 takes such forms (only PUT needs a
    length), so the backend does too; moto is handed the de-chunked body with its length."""
    key = f"{prefix}chunked"
    post = s3.generate_presigned_post(BUCKET, key, ExpiresIn=300)
    status, _ = post_form_chunked("127.0.0.1", backend.port, f"/{BUCKET}", post["fields"], ("f.bin", FORM_FILE), piece=8192)
    assert status == 204
    (entry,) = journal.journal()
    assert entry["headers"]["transfer-encoding"] == "chunked" and entry["verdict"] == "accepted"
    assert body_of(s3, key) == FORM_FILE


def _signed_policy(document: dict, keys=BACKEND_KEYS, amz_date: str | None = None) -> dict:
    """Form fields for a hand-written policy `document` (its conditions must name these fields)."""
    from s3backend import sigv4

    amz_date = amz_date or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    credential = f"{keys[0]}/{amz_date[:8]}/us-east-1/s3/aws4_request"
    policy = base64.b64encode(json.dumps(document).encode()).decode()
    key = sigv4.signing_key(keys[1], amz_date[:8], "us-east-1", "s3")
    return {"x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": credential, "x-amz-date": amz_date,
            "policy": policy, "x-amz-signature": sigv4.sign(key, policy)}


def test_post_object_hand_written_policy_with_eq_and_millisecond_expiration(backend, s3, prefix):
    """`["eq", "$name", v]`, an upper-case field name (names are case-insensitive) and an expiration
    with milliseconds, as browsers' JavaScript (`toISOString()`) writes it."""
    key = f"{prefix}hand"
    expiration = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 300))
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    credential = f"{BACKEND_KEYS[0]}/{amz_date[:8]}/us-east-1/s3/aws4_request"
    fields = _signed_policy({"expiration": expiration, "conditions": [
        ["eq", "$bucket", BUCKET], ["eq", "$key", key], ["starts-with", "$Content-Type", "image/"],
        {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": credential}, {"x-amz-date": amz_date},
    ]}, amz_date=amz_date)
    response = form_to_backend(backend, {"key": key, "Content-Type": "image/png", **fields})
    assert response.status == 204, response
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentType"] == "image/png"


def _form_refusal_cases():
    """name → (how the form is made from (s3, backend, prefix, key), status, code, message fragment)."""

    def generated(**kwargs):
        def make(s3, backend, prefix, key):
            post = s3.generate_presigned_post(BUCKET, key, **{"ExpiresIn": 300, **kwargs})
            return post["fields"], ("f.txt", b"form body")
        return make

    def tampered_signature(s3, backend, prefix, key):
        fields, file = generated()(s3, backend, prefix, key)
        return {**fields, "x-amz-signature": flip_hex(fields["x-amz-signature"])}, file

    def tampered_policy(s3, backend, prefix, key):
        """The policy re-encoded with a later expiration; the signature is the old one."""
        fields, file = generated()(s3, backend, prefix, key)
        document = json.loads(base64.b64decode(fields["policy"]))
        document["expiration"] = "2099-01-01T00:00:00Z"
        return {**fields, "policy": base64.b64encode(json.dumps(document).encode()).decode()}, file

    def unknown_key(s3, backend, prefix, key):
        post = s3_client(backend.url, ("AKIDNOBODY", "whatever")).generate_presigned_post(BUCKET, key, ExpiresIn=300)
        return post["fields"], ("f.txt", b"form body")

    def sigv2(s3, backend, prefix, key):
        post = s3_client(backend.url, BACKEND_KEYS, signature_version="s3").generate_presigned_post(
            BUCKET, key, ExpiresIn=300)
        assert "signature" in post["fields"] and "x-amz-signature" not in post["fields"]
        return post["fields"], ("f.txt", b"form body")

    def with_extra_field(s3, backend, prefix, key):
        fields, file = generated()(s3, backend, prefix, key)
        return {**fields, "x-amz-meta-extra": "not in the policy"}, file

    def key_outside_prefix(s3, backend, prefix, key):
        post = s3.generate_presigned_post(BUCKET, prefix + "in/${filename}", ExpiresIn=300,
                                          Conditions=[["starts-with", "$key", f"{prefix}in/"]])
        assert {"key": prefix + "in/${filename}"} not in json.loads(base64.b64decode(post["fields"]["policy"]))[
            "conditions"]  # with ${filename}, boto3 writes starts-with conditions only
        return {**post["fields"], "key": key}, ("f.txt", b"form body")

    def condition_field_absent(s3, backend, prefix, key):
        fields, file = generated(Conditions=[{"x-amz-meta-color": "blue"}])(s3, backend, prefix, key)
        return fields, file

    def other_bucket(s3, backend, prefix, key):
        post = s3.generate_presigned_post("another-bucket", key, ExpiresIn=300)
        return post["fields"], ("f.txt", b"form body")

    def too_large(s3, backend, prefix, key):
        fields, _ = generated(Conditions=[["content-length-range", 1, 10]])(s3, backend, prefix, key)
        return fields, ("f.txt", b"01234567890")

    def too_small(s3, backend, prefix, key):
        fields, _ = generated(Conditions=[["content-length-range", 5, 10]])(s3, backend, prefix, key)
        return fields, ("f.txt", b"0123")

    def without_file(s3, backend, prefix, key):
        fields, _ = generated()(s3, backend, prefix, key)
        return fields, None

    def anonymous(s3, backend, prefix, key):
        return {"key": key}, ("f.txt", b"form body")

    def field_after_file(s3, backend, prefix, key):
        fields, file = generated()(s3, backend, prefix, key)
        return list(fields.items()) + [("file", file), ("x-amz-meta-late", "1")], None

    def duplicate_field(s3, backend, prefix, key):
        fields, file = generated()(s3, backend, prefix, key)
        return list(fields.items()) + [("Policy", fields["policy"])], file

    return {
        "signature-tampered": (tampered_signature, 403, "SignatureDoesNotMatch", ""),
        "policy-tampered": (tampered_policy, 403, "SignatureDoesNotMatch", ""),
        "unknown-access-key": (unknown_key, 403, "InvalidAccessKeyId", ""),
        "expired-policy": (generated(ExpiresIn=-10), 403, "AccessDenied", "Policy expired"),
        "uncovered-field": (with_extra_field, 403, "AccessDenied", "Extra input fields: x-amz-meta-extra"),
        "key-outside-starts-with": (key_outside_prefix, 403, "AccessDenied", "Policy Condition failed"),
        "condition-on-absent-field": (condition_field_absent, 403, "AccessDenied", "Policy Condition failed"),
        "policy-for-another-bucket": (other_bucket, 403, "AccessDenied", "Policy Condition failed"),
        "file-above-content-length-range": (too_large, 400, "EntityTooLarge", ""),
        "file-below-content-length-range": (too_small, 400, "EntityTooSmall", ""),
        "no-file-field": (without_file, 400, "InvalidArgument", "file upload"),
        "anonymous": (anonymous, 403, "AccessDenied", "Anonymous"),
        "sigv2-policy": (sigv2, 403, "AccessDenied", "SigV2"),
        "field-after-the-file": (field_after_file, 400, "InvalidArgument", "after the file"),
        "field-twice": (duplicate_field, 400, "InvalidArgument", "more than once"),
    }


FORM_REFUSALS = _form_refusal_cases()


@pytest.mark.parametrize("case", FORM_REFUSALS)
def test_post_object_form_refusals_store_nothing(backend, s3, journal, prefix, case):
    make, status, code, fragment = FORM_REFUSALS[case]
    key = f"{prefix}refused"
    fields, file = make(s3, backend, prefix, key)
    journal.reset()
    response = form_to_backend(backend, fields, file=file)
    assert_refused(response, status, code)
    assert fragment.encode() in response.body, response
    (entry,) = journal.journal()
    assert not object_exists(s3, key)
    assert (entry["verdict"], entry["auth"], entry["error"]) == ("refused", "form-v4", code)


def test_post_object_malformed_multipart_is_refused(backend, s3, journal, prefix):
    post = s3.generate_presigned_post(BUCKET, f"{prefix}k", ExpiresIn=300)
    body, content_type = encode_form(post["fields"], ("f", b"data"))
    body = body[: body.rindex(b"\r\n--")]  # the closing boundary cut off
    response = send("127.0.0.1", backend.port, "POST", f"/{BUCKET}", [
        ("Host", f"127.0.0.1:{backend.port}"), ("Content-Type", content_type), ("Content-Length", str(len(body)))],
        body)
    assert_refused(response, 400, "MalformedPOSTRequest")
    assert not object_exists(s3, f"{prefix}k")

"""CopyObject and UploadPartCopy between buckets on two different backends.

No backend can read another backend's bucket, so osp does the copy itself: a GET of the source on
its backend (signed with that backend's keys, or an IBM IAM bearer token), streamed as the PUT or
UploadPart to the destination's backend (signed with its own). Here the two backends are the
verifying `backend` (SigV4, holding real-bucket01) and the `bearer_backend` (IBM IAM bearer tokens
for ibm-bucket01; SigV4 for the alias `sigv4-other`), so every byte crosses between two processes
that each check their own credentials.

What must hold: the destination holds exactly the source's bytes (read straight from its backend);
metadata and content headers are copied as S3 copies them (`COPY`, the default) or replaced
(`REPLACE`); a refusal — a missing source, a failed `x-amz-copy-source-if-*` condition, a source
whose tags osp cannot carry over — reaches the client with S3's code, and the destination never
sees a write; the aws cli's own cross-bucket `s3 cp` (multipart copy with ranged UploadPartCopy
above its 8 MiB threshold) works.
"""
from __future__ import annotations

import datetime
import hashlib
import http.server
import threading
import time

import botocore.exceptions
import pytest

from conftest import ALIAS_BUCKET, IBM_BUCKET, REAL_BUCKET, REGION, SECOND_BACKEND_KEYS, _osp_env, _running
from osptest import processes
from osptest.clients import BACKEND_KEYS, CLIENT_KEYS, IAM_API_KEY, AwsCli, BackendAdmin, s3_client
from osptest.s3checks import data, exists_at_backend, stored_bytes

# ibm-bucket01 again, reached with SigV4 keys instead of a bearer token: two HMAC ends.
SIGV4_OTHER = "sigv4-other"
# real-bucket01 again, on the same backend as proxy-bucket01 but with the second backend key pair:
# another identity (another account, as far as osp can know).
OTHER_KEYS = "other-keys"


def _serve(config: str, port: int, workdir: str, name: str):
    """One osp for a fixture's lifetime, always stopped."""
    yield from _running(processes.start_osp(config, port, workdir, {**_osp_env(), "IBM_API_KEY": IAM_API_KEY}, name))


@pytest.fixture(scope="module")
def copy_osp(backend, bearer_backend, iam_server, workdir):
    port = processes.free_port()
    keys = 'access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"'
    config = f"""
server: {{bind: 127.0.0.1, http_port: {port}, threads: 2}}
buckets:
  {ALIAS_BUCKET}: {{host: 127.0.0.1, port: {backend.port}, region: {REGION}, backend_bucket: {REAL_BUCKET}, {keys}}}
  {IBM_BUCKET}: {{host: 127.0.0.1, port: {bearer_backend.port}, region: {REGION},
                 api_key: "${{IBM_API_KEY}}", iam_endpoint: "{iam_server.url}"}}
  {SIGV4_OTHER}: {{host: 127.0.0.1, port: {bearer_backend.port}, region: {REGION}, backend_bucket: {IBM_BUCKET}, {keys}}}
  {OTHER_KEYS}: {{host: 127.0.0.1, port: {backend.port}, region: {REGION}, backend_bucket: {REAL_BUCKET},
                 access_key: {SECOND_BACKEND_KEYS[0]}, secret_key: {SECOND_BACKEND_KEYS[1]}}}
keystore:
  - {{access_key: "${{CLIENT_ACCESS_KEY}}", secret_key: "${{CLIENT_SECRET_KEY}}", principal: alice}}
"""
    yield from _serve(config, port, workdir, "osp-copy")


@pytest.fixture(scope="module")
def client(copy_osp):
    return s3_client(copy_osp.url, CLIENT_KEYS)


def _writes(journal: BackendAdmin, key: str) -> list[dict]:
    return [entry for entry in journal.requests_for(key) if entry["method"] in ("PUT", "POST")]


def _code(error: botocore.exceptions.ClientError) -> tuple[int, str]:
    return error.response["ResponseMetadata"]["HTTPStatusCode"], error.response["Error"]["Code"]


def test_copy_to_a_bearer_backend_copies_bytes_metadata_and_content_headers(client, backend_s3, ibm_backend_s3, prefix):
    body = data(70_000, "to-ibm")
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}src", Body=body, ContentType="text/csv",
                          CacheControl="max-age=60", Metadata={"team": "blue", "run": "7"})
    answer = client.copy_object(Bucket=IBM_BUCKET, Key=f"{prefix}dst", CopySource={"Bucket": ALIAS_BUCKET, "Key": f"{prefix}src"})

    stored = ibm_backend_s3.get_object(Bucket=IBM_BUCKET, Key=f"{prefix}dst")
    assert stored["Body"].read() == body
    assert stored["ContentType"] == "text/csv"
    assert stored["CacheControl"] == "max-age=60"
    assert stored["Metadata"] == {"team": "blue", "run": "7"}
    assert answer["CopyObjectResult"]["ETag"] == stored["ETag"]
    assert answer["CopyObjectResult"]["LastModified"].year >= 2026


def test_copy_back_with_replace_sets_the_requests_metadata(client, backend_s3, ibm_backend_s3, prefix):
    body = data(1234, "from-ibm")
    ibm_backend_s3.put_object(Bucket=IBM_BUCKET, Key=f"{prefix}src", Body=body, ContentType="text/plain", Metadata={"old": "1"})
    client.copy_object(Bucket=ALIAS_BUCKET, Key=f"{prefix}dst", CopySource={"Bucket": IBM_BUCKET, "Key": f"{prefix}src"},
                       MetadataDirective="REPLACE", ContentType="application/json", Metadata={"new": "2"})

    stored = backend_s3.get_object(Bucket=REAL_BUCKET, Key=f"{prefix}dst")
    assert stored["Body"].read() == body
    assert stored["ContentType"] == "application/json"
    assert stored["Metadata"] == {"new": "2"}


def test_keys_with_awkward_characters_and_an_empty_object_copy(client, backend_s3, ibm_backend_s3, prefix):
    for key, body in [(f"{prefix}a b+c(1)=&;@,$!'*.txt", b"awkward"), (f"{prefix}déjà vu/ü", b"unicode"), (f"{prefix}empty", b"")]:
        backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=body)
        client.copy_object(Bucket=SIGV4_OTHER, Key=key + "-copy", CopySource={"Bucket": ALIAS_BUCKET, "Key": key})
        assert stored_bytes(ibm_backend_s3, IBM_BUCKET, key + "-copy") == body


def test_a_large_object_streams_between_two_sigv4_backends(client, backend_s3, ibm_backend_s3, prefix):
    body = data(9 << 20, "large")  # many reads and writes, the source read as the destination takes it
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}big", Body=body)
    client.copy_object(Bucket=SIGV4_OTHER, Key=f"{prefix}big", CopySource={"Bucket": ALIAS_BUCKET, "Key": f"{prefix}big"})
    stored = stored_bytes(ibm_backend_s3, IBM_BUCKET, f"{prefix}big")
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(body).hexdigest()


def test_aws_cli_copies_across_backends_with_ranged_part_copies(copy_osp, backend_s3, ibm_backend_s3, bearer_journal, workdir,
                                                                prefix):
    """9 MiB is above the cli's 8 MiB threshold: CreateMultipartUpload, two UploadPartCopy with
    `x-amz-copy-source-range`, CompleteMultipartUpload — all through osp."""
    body = data(9 << 20, "cli")
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}cli", Body=body)
    cli = AwsCli(copy_osp.url, CLIENT_KEYS, workdir)
    cli("s3", "cp", f"s3://{ALIAS_BUCKET}/{prefix}cli", f"s3://{IBM_BUCKET}/{prefix}cli")
    parts = [e for e in _writes(bearer_journal, f"{prefix}cli") if "partNumber=" in e["query"]]
    assert len(parts) == 2 and all(e["auth"] == "bearer" for e in parts), parts
    assert stored_bytes(ibm_backend_s3, IBM_BUCKET, f"{prefix}cli") == body


def test_upload_part_copy_with_a_range_copies_exactly_that_range(client, backend_s3, ibm_backend_s3, prefix):
    body = data(6 << 20, "parts")
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}src", Body=body)
    upload = client.create_multipart_upload(Bucket=IBM_BUCKET, Key=f"{prefix}dst")["UploadId"]
    source = {"Bucket": ALIAS_BUCKET, "Key": f"{prefix}src"}
    first = client.upload_part_copy(Bucket=IBM_BUCKET, Key=f"{prefix}dst", UploadId=upload, PartNumber=1,
                                    CopySource=source, CopySourceRange=f"bytes=0-{(5 << 20) - 1}")
    second = client.upload_part_copy(Bucket=IBM_BUCKET, Key=f"{prefix}dst", UploadId=upload, PartNumber=2,
                                     CopySource=source, CopySourceRange=f"bytes={5 << 20}-{len(body) - 1}")
    client.complete_multipart_upload(Bucket=IBM_BUCKET, Key=f"{prefix}dst", UploadId=upload, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]},
    ]})
    assert stored_bytes(ibm_backend_s3, IBM_BUCKET, f"{prefix}dst") == body


def test_one_backend_copies_by_itself_when_one_identity_signs_for_both_buckets(client, backend_s3, journal, prefix):
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}src", Body=b"server side")
    journal.reset()
    client.copy_object(Bucket=ALIAS_BUCKET, Key=f"{prefix}dst", CopySource={"Bucket": ALIAS_BUCKET, "Key": f"{prefix}src"})
    (entry,) = journal.journal()
    assert stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}dst") == b"server side"
    assert (entry["method"], entry["access_key"]) == ("PUT", BACKEND_KEYS[0])
    assert entry["headers"]["x-amz-copy-source"] == f"/{REAL_BUCKET}/{prefix}src"


def test_on_one_backend_under_two_identities_osp_reads_with_one_and_writes_with_the_other(
        client, backend_s3, journal, prefix):
    """A server-side copy would read the source as the destination's identity, which the operator
    did not give that bucket (and which, in another account, could not read it): osp copies."""
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}src", Body=b"two identities", ContentType="text/plain")
    journal.reset()
    client.copy_object(Bucket=OTHER_KEYS, Key=f"{prefix}dst", CopySource={"Bucket": ALIAS_BUCKET, "Key": f"{prefix}src"})
    assert [(e["method"], e["access_key"], "x-amz-copy-source" in e["headers"]) for e in journal.journal()] == [
        ("GET", BACKEND_KEYS[0], False), ("PUT", SECOND_BACKEND_KEYS[0], False)]
    stored = backend_s3.get_object(Bucket=REAL_BUCKET, Key=f"{prefix}dst")
    assert (stored["Body"].read(), stored["ContentType"]) == (b"two identities", "text/plain")


def test_a_missing_source_is_no_such_key_and_nothing_is_written(client, ibm_backend_s3, bearer_journal, prefix):
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        client.copy_object(Bucket=IBM_BUCKET, Key=f"{prefix}dst", CopySource={"Bucket": ALIAS_BUCKET, "Key": f"{prefix}absent"})
    assert _code(refused.value) == (404, "NoSuchKey")
    assert not exists_at_backend(ibm_backend_s3, IBM_BUCKET, f"{prefix}dst")
    assert _writes(bearer_journal, f"{prefix}dst") == []


PAST = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
FUTURE = datetime.datetime(2099, 1, 1, tzinfo=datetime.timezone.utc)
OTHER_ETAG = '"0123456789abcdef0123456789abcdef"'


@pytest.mark.parametrize("condition, failing, holding", [
    ("CopySourceIfMatch", OTHER_ETAG, "etag"),
    ("CopySourceIfNoneMatch", "etag", OTHER_ETAG),
    ("CopySourceIfModifiedSince", FUTURE, PAST),
    ("CopySourceIfUnmodifiedSince", PAST, FUTURE),
])
def test_a_failed_copy_condition_is_precondition_failed_and_nothing_is_written(
        condition, failing, holding, client, backend_s3, ibm_backend_s3, bearer_journal, prefix):
    etag = backend_s3.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}src", Body=b"conditional")["ETag"]
    source = {"Bucket": ALIAS_BUCKET, "Key": f"{prefix}src"}
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        client.copy_object(Bucket=IBM_BUCKET, Key=f"{prefix}dst", CopySource=source,
                           **{condition: etag if failing == "etag" else failing})
    assert _code(refused.value) == (412, "PreconditionFailed")
    assert _writes(bearer_journal, f"{prefix}dst") == []
    client.copy_object(Bucket=IBM_BUCKET, Key=f"{prefix}dst", CopySource=source,
                       **{condition: etag if holding == "etag" else holding})
    assert stored_bytes(ibm_backend_s3, IBM_BUCKET, f"{prefix}dst") == b"conditional"


def test_tags_that_cannot_be_carried_over_refuse_the_copy_unless_replaced(client, backend_s3, ibm_backend_s3, bearer_journal, prefix):
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}src", Body=b"tagged", Tagging="tier=gold")
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        client.copy_object(Bucket=IBM_BUCKET, Key=f"{prefix}dst", CopySource={"Bucket": ALIAS_BUCKET, "Key": f"{prefix}src"})
    assert _code(refused.value) == (501, "NotImplemented")
    assert _writes(bearer_journal, f"{prefix}dst") == []

    client.copy_object(Bucket=IBM_BUCKET, Key=f"{prefix}dst", CopySource={"Bucket": ALIAS_BUCKET, "Key": f"{prefix}src"},
                       TaggingDirective="REPLACE", Tagging="tier=silver")
    assert stored_bytes(ibm_backend_s3, IBM_BUCKET, f"{prefix}dst") == b"tagged"
    assert ibm_backend_s3.get_object_tagging(Bucket=IBM_BUCKET, Key=f"{prefix}dst")["TagSet"] == [{"Key": "tier", "Value": "silver"}]


def test_the_client_never_sees_either_backends_credentials(client, backend_s3, bearer_journal, prefix):
    """The destination's write is signed by osp for its own backend: the bearer backend saw a
    bearer token from IAM, never the client's key or the other backend's."""
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}src", Body=b"whose keys")
    client.copy_object(Bucket=IBM_BUCKET, Key=f"{prefix}dst", CopySource={"Bucket": ALIAS_BUCKET, "Key": f"{prefix}src"})
    writes = _writes(bearer_journal, f"{prefix}dst")
    assert len(writes) == 1
    assert writes[0]["auth"] == "bearer"
    assert "x-amz-copy-source" not in {name.lower() for name in writes[0].get("headers", {})}


class _ShortSource(http.server.BaseHTTPRequestHandler):
    """A source backend that promises 1 MiB for every GET and then breaks its word: `…/cut` sends a
    quarter and closes; `…/slow` sends a quarter, pauses for SLOW_PAUSE seconds, then the rest;
    `…/slower` pauses LONG_PAUSE seconds instead, `…/slower-cut` then closes. `…/over-limit`
    declares one byte more than S3's 5 GiB copy limit, sends a quarter MiB and closes."""

    protocol_version = "HTTP/1.1"
    size = 1 << 20

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        over_limit = self.path.endswith("/over-limit")
        self.send_header("Content-Length", str(COPY_LIMIT + 1 if over_limit else self.size))
        self.end_headers()
        quarter = self.size // 4
        self.wfile.write(b"q" * quarter)
        self.wfile.flush()
        if self.path.endswith("/slow") or self.path.endswith("/slower"):
            time.sleep(SLOW_PAUSE if self.path.endswith("/slow") else LONG_PAUSE)
            self.wfile.write(b"r" * (self.size - quarter))
        elif self.path.endswith("/slower-cut"):
            time.sleep(LONG_PAUSE)
        self.close_connection = True

    def log_message(self, *args):
        pass


COPY_LIMIT = 5 << 30  # S3's largest copy source: 5 GiB
SLOW_PAUSE = 2.0
# Longer than the client's read timeout in the keep-alive tests, which osp's whitespace (first
# after 2 s, then every 3 s) must bridge.
LONG_PAUSE = 8.0


@pytest.fixture(scope="module")
def short_source_osp(bearer_backend, workdir):
    """osp with `short-source` on a `_ShortSource` server and `sigv4-other` on the bearer backend."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ShortSource)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = processes.free_port()
    keys = 'access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"'
    config = f"""
server: {{bind: 127.0.0.1, http_port: {port}, threads: 2}}
buckets:
  short-source: {{host: 127.0.0.1, port: {server.server_address[1]}, region: {REGION}, {keys}}}
  {SIGV4_OTHER}: {{host: 127.0.0.1, port: {bearer_backend.port}, region: {REGION}, backend_bucket: {IBM_BUCKET}, {keys}}}
keystore:
  - {{access_key: "${{CLIENT_ACCESS_KEY}}", secret_key: "${{CLIENT_SECRET_KEY}}", principal: alice}}
"""
    try:
        yield from _serve(config, port, workdir, "osp-short-source")
    finally:
        server.shutdown()
        server.server_close()


def test_a_source_that_ends_early_is_502_and_the_destination_stores_nothing(short_source_osp, ibm_backend_s3, prefix):
    client = s3_client(short_source_osp.url, CLIENT_KEYS)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        client.copy_object(Bucket=SIGV4_OTHER, Key=f"{prefix}dst", CopySource={"Bucket": "short-source", "Key": f"{prefix}cut"})
    assert _code(refused.value) == (502, "BadGateway")
    assert not exists_at_backend(ibm_backend_s3, IBM_BUCKET, f"{prefix}dst")
    # osp goes on serving copies from the same source backend.
    with pytest.raises(botocore.exceptions.ClientError):
        client.copy_object(Bucket=SIGV4_OTHER, Key=f"{prefix}dst", CopySource={"Bucket": "short-source", "Key": f"{prefix}cut"})


def test_a_source_over_the_5_gib_copy_limit_is_refused_before_any_write(short_source_osp, ibm_backend_s3, bearer_journal, prefix):
    """S3 copies at most 5 GiB in one request (larger objects: UploadPartCopy ranges); osp judges
    the source by the length its GET declares and refuses before the destination hears of it."""
    client = s3_client(short_source_osp.url, CLIENT_KEYS)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        client.copy_object(Bucket=SIGV4_OTHER, Key=f"{prefix}dst", CopySource={"Bucket": "short-source", "Key": f"{prefix}over-limit"})
    assert _code(refused.value) == (400, "InvalidRequest")
    assert str(COPY_LIMIT) in refused.value.response["Error"]["Message"]
    assert not exists_at_backend(ibm_backend_s3, IBM_BUCKET, f"{prefix}dst")
    assert _writes(bearer_journal, f"{prefix}dst") == []


def test_a_client_gone_mid_copy_is_noticed_at_the_keep_alive_and_nothing_is_stored(short_source_osp, ibm_backend_s3, prefix):
    """osp holds the client's reads while it copies, so it learns the client is gone when its
    keep-alive whitespace cannot be written (by the second, 5 s in): the copy is cut there, before
    the source (8 s) has all come, and the destination stores nothing. osp goes on serving."""
    impatient = s3_client(short_source_osp.url, CLIENT_KEYS, read_timeout=0.5)
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        impatient.copy_object(Bucket=SIGV4_OTHER, Key=f"{prefix}dst", CopySource={"Bucket": "short-source", "Key": f"{prefix}slower"})
    time.sleep(LONG_PAUSE + 1.5)  # an uncancelled copy would have completed by now
    assert not exists_at_backend(ibm_backend_s3, IBM_BUCKET, f"{prefix}dst")
    s3_client(short_source_osp.url, CLIENT_KEYS).copy_object(
        Bucket=SIGV4_OTHER, Key=f"{prefix}again", CopySource={"Bucket": "short-source", "Key": f"{prefix}slow"})
    assert stored_bytes(ibm_backend_s3, IBM_BUCKET, f"{prefix}again") == b"q" * (1 << 18) + b"r" * (3 << 18)


def test_a_long_copy_keeps_the_client_waiting_with_whitespace_and_answers_in_the_200(short_source_osp, ibm_backend_s3, prefix):
    """As S3 does: a copy still running after a moment is `200 OK` at once, whitespace follows
    while it runs, then the result document — so a client's read timeout (5 s here, against an 8 s
    copy) does not end it."""
    patient_enough = s3_client(short_source_osp.url, CLIENT_KEYS, read_timeout=5)
    started = time.monotonic()
    answer = patient_enough.copy_object(
        Bucket=SIGV4_OTHER, Key=f"{prefix}dst", CopySource={"Bucket": "short-source", "Key": f"{prefix}slower"})
    assert time.monotonic() - started >= LONG_PAUSE
    stored = ibm_backend_s3.get_object(Bucket=IBM_BUCKET, Key=f"{prefix}dst")
    assert stored["Body"].read() == b"q" * (1 << 18) + b"r" * (3 << 18)
    assert answer["CopyObjectResult"]["ETag"] == stored["ETag"]


def test_a_long_copy_that_fails_once_committed_is_an_error_inside_the_200(short_source_osp, ibm_backend_s3, prefix):
    """The 200 is out when the source fails: the error document is its body, which the SDKs read as
    the error (botocore raises it as for any other S3 error), and nothing is stored."""
    patient_enough = s3_client(short_source_osp.url, CLIENT_KEYS, read_timeout=5)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        patient_enough.copy_object(
            Bucket=SIGV4_OTHER, Key=f"{prefix}dst", CopySource={"Bucket": "short-source", "Key": f"{prefix}slower-cut"})
    # botocore reports an error found in a 200 with status 500 (its convention for S3's 200 errors).
    assert _code(refused.value) == (500, "BadGateway")
    assert not exists_at_backend(ibm_backend_s3, IBM_BUCKET, f"{prefix}dst")

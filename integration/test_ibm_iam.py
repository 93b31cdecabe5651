"""IBM COS through osp with IAM: a bucket configured with an `api_key` gets `Authorization: Bearer
<token>` instead of a SigV4 signature. The token comes from a local IAM token endpoint
(callouts/iam_server.py) that counts exchanges, and the backend (s3backend --bearer-introspect)
accepts only tokens that endpoint says are current — so a stale, forged or missing token fails.

What must hold: clients sign with their osp keys as usual and every operation works; each upload mode
is stored as exactly the object's bytes (aws-chunked is decoded, since a bearer token has no signature
chain to re-sign chunks on); one exchange serves many requests, expiry causes exactly one refresh,
concurrent requests during an exchange share it; an IAM that fails means 503 and nothing forwarded,
and osp recovers by itself.
"""
from __future__ import annotations

import concurrent.futures
import os
import time

import botocore.exceptions
import pytest

from conftest import IBM_BUCKET, start_ibm_osp
from osptest import processes
from osptest.clients import BACKEND_KEYS, CLIENT_KEYS, IAM_API_KEY, AwsCli, s3_client, temp_file
from osptest.s3checks import data, stored_bytes
from s3client import signer as sig
from s3client.http import send_prepared


@pytest.fixture
def fresh_osp(bearer_backend, iam_server, workdir, request):
    """An osp with an empty token cache, and an IAM with zeroed counters and default behaviour."""
    iam_server.reset()
    server = start_ibm_osp(bearer_backend, iam_server, workdir, f"osp-ibm-{request.node.name[:40]}")
    try:
        yield server
    finally:
        processes.stop(server.process)


def _client(osp):
    return s3_client(osp.url, CLIENT_KEYS)


def _error(call) -> tuple[int, str]:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        call()
    return refused.value.response["ResponseMetadata"]["HTTPStatusCode"], refused.value.response["Error"]["Code"]


def test_boto3_operations_reach_ibm_with_a_bearer_token(fresh_osp, iam_server, bearer_journal, ibm_backend_s3, prefix):
    s3 = _client(fresh_osp)
    key = f"{prefix}hello (1)+x.txt"
    s3.put_object(Bucket=IBM_BUCKET, Key=key, Body=b"hello ibm", ServerSideEncryption="AES256")
    assert s3.get_object(Bucket=IBM_BUCKET, Key=key)["Body"].read() == b"hello ibm"
    assert s3.get_object(Bucket=IBM_BUCKET, Key=key, Range="bytes=6-8")["Body"].read() == b"ibm"
    assert s3.head_object(Bucket=IBM_BUCKET, Key=key)["ContentLength"] == 9
    listed = s3.list_objects_v2(Bucket=IBM_BUCKET, Prefix=prefix)
    assert [o["Key"] for o in listed["Contents"]] == [key]
    s3.copy_object(Bucket=IBM_BUCKET, Key=f"{prefix}copy", CopySource={"Bucket": IBM_BUCKET, "Key": key})
    assert stored_bytes(ibm_backend_s3, IBM_BUCKET, f"{prefix}copy") == b"hello ibm"
    s3.delete_object(Bucket=IBM_BUCKET, Key=f"{prefix}copy")

    # Everything osp sent (the test's own SigV4 reads aside) carried the bearer token.
    entries = [e for e in bearer_journal.journal() if e.get("access_key") != BACKEND_KEYS[0]]
    assert len(entries) == 7
    assert all(e["auth"] == "bearer" and e["verdict"] == "accepted" for e in entries), entries
    assert iam_server.stats()["exchanges"] == 1


@pytest.mark.parametrize("mode", sig.PAYLOAD_MODES)
def test_every_upload_mode_is_stored_as_the_object_bytes(fresh_osp, ibm_backend_s3, bearer_journal, prefix, mode):
    signer = sig.RequestSigner(sig.Credentials(*CLIENT_KEYS), fresh_osp.host)
    key = f"{prefix}obj"
    body = data(200 * 1024 + 7, mode)
    request = signer.prepare("PUT", f"/{IBM_BUCKET}/{sig.encode_key(key)}", body=body, payload_mode=mode,
                             chunk_size=64 * 1024, headers={"Content-Type": "application/octet-stream"})
    response = send_prepared("127.0.0.1", fresh_osp.port, request)
    assert response.status == 200, response
    assert stored_bytes(ibm_backend_s3, IBM_BUCKET, key) == body
    head = ibm_backend_s3.head_object(Bucket=IBM_BUCKET, Key=key)
    assert "aws-chunked" not in head.get("ContentEncoding", "")
    puts = [e for e in bearer_journal.journal() if e["method"] == "PUT"]
    assert len(puts) == 1 and puts[0]["auth"] == "bearer" and puts[0]["verdict"] == "accepted"


def test_a_forged_chunk_to_an_ibm_bucket_stores_nothing(fresh_osp, ibm_backend_s3, prefix):
    signer = sig.RequestSigner(sig.Credentials(*CLIENT_KEYS), fresh_osp.host)
    key = f"{prefix}forged"
    body = data(150 * 1024, "forged")
    request = signer.prepare("PUT", f"/{IBM_BUCKET}/{sig.encode_key(key)}", body=body,
                             payload_mode=sig.SIGNED_CHUNKS, chunk_size=64 * 1024)
    # Flip a byte in the second chunk's data: its signature no longer matches.
    framed = bytearray(request.body)
    framed[len(framed) // 2] ^= 0xFF
    request.body = bytes(framed)
    response = send_prepared("127.0.0.1", fresh_osp.port, request)
    assert response.status in (400, 403)
    with pytest.raises(botocore.exceptions.ClientError):
        ibm_backend_s3.head_object(Bucket=IBM_BUCKET, Key=key)


def test_aws_cli_session_with_default_uploads(fresh_osp, ibm_backend_s3, workdir, prefix):
    cli = AwsCli(fresh_osp.url, CLIENT_KEYS, workdir)
    small = temp_file(workdir, 3000, seed=1)
    large = temp_file(workdir, 9 * 1024 * 1024 + 5, seed=2)  # multipart, with the default CRC trailer
    cli("s3", "cp", small, f"s3://{IBM_BUCKET}/{prefix}small")
    cli("s3", "cp", large, f"s3://{IBM_BUCKET}/{prefix}large")
    with open(small, "rb") as handle:
        assert stored_bytes(ibm_backend_s3, IBM_BUCKET, f"{prefix}small") == handle.read()
    with open(large, "rb") as handle:
        assert stored_bytes(ibm_backend_s3, IBM_BUCKET, f"{prefix}large") == handle.read()
    listing = cli("s3", "ls", f"s3://{IBM_BUCKET}/{prefix}").stdout
    assert "small" in listing and "large" in listing
    back = os.path.join(workdir, f"{prefix.strip('/')}-back")
    cli("s3", "cp", f"s3://{IBM_BUCKET}/{prefix}large", back)
    with open(back, "rb") as got, open(large, "rb") as sent:
        assert got.read() == sent.read()


def test_expiry_causes_exactly_one_refresh(bearer_backend, iam_server, workdir, prefix):
    iam_server.reset()
    iam_server.configure(expires_in=4)  # osp uses a token for 80% of its life: 3.2 s
    server = start_ibm_osp(bearer_backend, iam_server, workdir, "osp-ibm-expiry")
    try:
        s3 = _client(server)
        s3.put_object(Bucket=IBM_BUCKET, Key=f"{prefix}k", Body=b"v")
        started = time.monotonic()
        while time.monotonic() - started < 2.5:
            assert s3.get_object(Bucket=IBM_BUCKET, Key=f"{prefix}k")["Body"].read() == b"v"
        assert iam_server.stats()["exchanges"] == 1

        time.sleep(max(0.0, started + 3.6 - time.monotonic()))
        for _ in range(10):
            assert s3.get_object(Bucket=IBM_BUCKET, Key=f"{prefix}k")["Body"].read() == b"v"
        assert iam_server.stats()["exchanges"] == 2
        # The first token has expired by now; requests still work on the refreshed one.
        time.sleep(max(0.0, started + 4.5 - time.monotonic()))
        assert s3.get_object(Bucket=IBM_BUCKET, Key=f"{prefix}k")["Body"].read() == b"v"
        assert iam_server.stats()["exchanges"] == 2
    finally:
        processes.stop(server.process)
        iam_server.reset()


def test_concurrent_requests_during_an_exchange_cause_one_exchange(fresh_osp, iam_server, prefix):
    iam_server.configure(delay_ms=800)
    s3 = _client(fresh_osp)

    def get(index: int) -> int:
        try:
            s3.head_object(Bucket=IBM_BUCKET, Key=f"{prefix}missing-{index}")
        except botocore.exceptions.ClientError as error:
            return error.response["ResponseMetadata"]["HTTPStatusCode"]
        return 200

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(get, range(20)))
    assert statuses == [404] * 20  # every request reached the backend with a current token
    stats = iam_server.stats()
    assert stats["attempts"] == 1 and stats["exchanges"] == 1


def test_iam_failing_means_503_and_nothing_forwarded_then_recovery(fresh_osp, iam_server, bearer_journal, prefix):
    s3 = _client(fresh_osp)
    iam_server.configure(fail_status=500)
    assert _error(lambda: s3.put_object(Bucket=IBM_BUCKET, Key=f"{prefix}k", Body=b"v")) == (503, "ServiceUnavailable")
    iam_server.configure(fail_status=None, delay_ms=12000)  # slower than osp's 10 s exchange timeout
    assert _error(lambda: s3.get_object(Bucket=IBM_BUCKET, Key=f"{prefix}k")) == (503, "ServiceUnavailable")
    assert bearer_journal.journal() == []

    iam_server.configure(delay_ms=0)
    s3.put_object(Bucket=IBM_BUCKET, Key=f"{prefix}k", Body=b"v")
    assert s3.get_object(Bucket=IBM_BUCKET, Key=f"{prefix}k")["Body"].read() == b"v"
    # The abandoned 12 s exchange still ends at the IAM server, with a token: wait it out, so it
    # does not land in a later test that counts exchanges or tokens.
    deadline = time.monotonic() + 15
    while iam_server.stats()["in_flight"] > 0 and time.monotonic() < deadline:
        time.sleep(0.2)


def test_a_bad_client_signature_is_refused_before_any_exchange(fresh_osp, iam_server, bearer_journal):
    s3 = s3_client(fresh_osp.url, (CLIENT_KEYS[0], "not-the-secret"))
    assert _error(lambda: s3.list_objects_v2(Bucket=IBM_BUCKET)) == (403, "SignatureDoesNotMatch")
    assert iam_server.stats()["attempts"] == 0
    assert bearer_journal.journal() == []


def test_neither_api_key_nor_token_reaches_the_log(fresh_osp, iam_server, prefix):
    s3 = _client(fresh_osp)
    s3.put_object(Bucket=IBM_BUCKET, Key=f"{prefix}k", Body=b"v")
    with open(fresh_osp.log_path, encoding="utf-8", errors="replace") as handle:
        log = handle.read()
    assert IAM_API_KEY not in log
    assert "Bearer" not in log

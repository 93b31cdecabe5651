"""Where client secrets and backend credentials come from, through osp against the verifying backend:
per-principal static credentials, and the HTTP callouts (the original's hmac_fetcher and
bucket_creds_fetcher) with their failure modes. The backend accepts two backend identities and its
journal records which one signed each request, so "which key did osp use" is observable.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import botocore.exceptions
import pytest

from conftest import ALIAS_BUCKET, REAL_BUCKET, REGION, SECOND_BACKEND_KEYS, _osp_env, _remember
from osptest import processes
from osptest.clients import BACKEND_KEYS, CLIENT_KEYS, s3_client
from osptest.forms import post_form
from osptest.s3checks import exists_at_backend, stored_bytes

HERE = os.path.dirname(os.path.abspath(__file__))
BOB_KEYS = ("AKIDBOBSTATIC01", "bob-static-secret-01")
CAROL_KEYS = ("AKIDCAROLHTTP01", "carol-http-secret-01")
CAROL_FORM_KEYS = ("AKIDCAROLFORM01", "carol-form-secret-01")  # another key of carol's, used by one test only


def error(call) -> tuple[int, str]:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        call()
    return refused.value.response["ResponseMetadata"]["HTTPStatusCode"], refused.value.response["Error"]["Code"]


def keys(journal) -> list[str]:
    return [entry["access_key"] for entry in journal.journal() if entry.get("method") == "PUT"]


class CalloutServer:
    def __init__(self, workdir: str, data: dict):
        path = os.path.join(workdir, "callouts-data.json")
        with open(path, "w") as handle:
            json.dump(data, handle)
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "callouts", "secret_server.py"), "--port", "0", "--data", path],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        _remember(self.process)
        deadline, line = time.monotonic() + 30, b""
        while not line.startswith(b"READY") and time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                raise RuntimeError("secret_server.py exited before READY")
        self.port = int(line.split()[1])

    def mode(self, mode: str) -> None:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/__mode", method="POST",
                                         data=json.dumps({"mode": mode}).encode())
        urllib.request.urlopen(request, timeout=10).read()

    def stop(self) -> None:
        processes.stop(self.process)


def _start(backend, workdir: str, name: str, extra: str, keystore: str = ""):
    port = processes.free_port()
    backend_keys = 'access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"'
    config = f"""
server: {{bind: 127.0.0.1, http_port: {port}, threads: 2}}
buckets:
  {ALIAS_BUCKET}: {{host: 127.0.0.1, port: {backend.port}, region: {REGION}, backend_bucket: {REAL_BUCKET}, {backend_keys}}}
keystore:
  - {{access_key: "${{CLIENT_ACCESS_KEY}}", secret_key: "${{CLIENT_SECRET_KEY}}", principal: alice}}
{keystore}{extra}"""
    server = processes.start_osp(config, port, workdir, _osp_env(), name)
    _remember(server.process)
    return server


@pytest.fixture(scope="module")
def principal_osp(backend, workdir):
    server = _start(backend, workdir, "osp-principal-creds", f"""
credentials:
  backend: static
  principals:
    - {{principal: bob, buckets: ["proxy-*"], access_key: {SECOND_BACKEND_KEYS[0]}, secret_key: {SECOND_BACKEND_KEYS[1]}}}
""", keystore=f"  - {{access_key: {BOB_KEYS[0]}, secret_key: {BOB_KEYS[1]}, principal: bob}}\n")
    yield server
    processes.stop(server.process)


def test_each_principal_reaches_the_backend_under_its_own_identity(principal_osp, backend_s3, journal, prefix):
    s3_client(principal_osp.url, CLIENT_KEYS).put_object(Bucket=ALIAS_BUCKET, Key=f"{prefix}alice", Body=b"a")
    s3_client(principal_osp.url, BOB_KEYS).put_object(Bucket=ALIAS_BUCKET, Key=f"{prefix}bob", Body=b"b")
    assert keys(journal) == [BACKEND_KEYS[0], SECOND_BACKEND_KEYS[0]]
    assert stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}bob") == b"b"


@pytest.fixture(scope="module")
def callouts(workdir):
    server = CalloutServer(workdir, {
        "keys": {CAROL_KEYS[0]: {"secret_key": CAROL_KEYS[1], "principal": "carol"},
                 CAROL_FORM_KEYS[0]: {"secret_key": CAROL_FORM_KEYS[1], "principal": "carol"}},
        "credentials": {ALIAS_BUCKET: {"principals": {
            "carol": {"access_key": SECOND_BACKEND_KEYS[0], "secret_key": SECOND_BACKEND_KEYS[1]},
            "alice": {"access_key": BACKEND_KEYS[0], "secret_key": BACKEND_KEYS[1]},
        }}},
    })
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http_osp(backend, workdir, callouts):
    base = f"http://127.0.0.1:{callouts.port}"
    server = _start(backend, workdir, "osp-http-sources", f"""
secrets:
  backend: http
  http: {{url: "{base}/secret", timeout_ms: 500}}
  cache: {{ttl_seconds: 300, negative_ttl_seconds: 1}}
credentials:
  backend: http
  http: {{url: "{base}/credentials", timeout_ms: 500}}
""")
    yield server
    processes.stop(server.process)


def test_secrets_and_credentials_from_http_callouts(http_osp, backend_s3, journal, prefix):
    carol = s3_client(http_osp.url, CAROL_KEYS)
    carol.put_object(Bucket=ALIAS_BUCKET, Key=f"{prefix}carol", Body=b"from carol")
    s3_client(http_osp.url, CLIENT_KEYS).put_object(Bucket=ALIAS_BUCKET, Key=f"{prefix}alice", Body=b"from alice")
    # per_principal answers: carol's backend identity never serves alice, nor the other way round
    assert keys(journal) == [SECOND_BACKEND_KEYS[0], BACKEND_KEYS[0]]
    assert stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}carol") == b"from carol"


def test_unknown_key_from_the_secret_service_is_invalid_access_key_id(http_osp, journal):
    nobody = s3_client(http_osp.url, ("AKIDNOBODY00001", "whatever-secret"))
    assert error(lambda: nobody.list_objects_v2(Bucket=ALIAS_BUCKET)) == (403, "InvalidAccessKeyId")
    assert journal.journal() == []


def test_a_form_signed_with_a_key_from_the_secret_service_goes_out_under_that_principals_identity(
        http_osp, backend_s3, journal, prefix):
    """A browser form's signer is looked up like any client's (here: a callout, as no request has used
    the key before), and the form osp re-issues is signed with that principal's own backend credentials."""
    key = f"{prefix}carol-form"
    post = s3_client(http_osp.url, CAROL_FORM_KEYS).generate_presigned_post(
        ALIAS_BUCKET, key, ExpiresIn=300)
    response = post_form("127.0.0.1", http_osp.port, f"/{ALIAS_BUCKET}", post["fields"], ("c.txt", b"carol's form"),
                         host_header=http_osp.host)
    assert response.status == 204, response
    (entry,) = [e for e in journal.journal() if e.get("method") == "POST"]
    assert entry["access_key"] == SECOND_BACKEND_KEYS[0]
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"carol's form"


def test_a_form_whose_signer_the_failing_secret_service_cannot_name_is_503_and_stores_nothing(
        http_osp, callouts, backend_s3, journal, prefix):
    key = f"{prefix}stranger-form"
    post = s3_client(http_osp.url, ("AKIDSTRANGERFORM", "stranger-secret")).generate_presigned_post(
        ALIAS_BUCKET, key, ExpiresIn=300)
    callouts.mode("500")
    try:
        response = post_form("127.0.0.1", http_osp.port, f"/{ALIAS_BUCKET}", post["fields"], ("s.txt", b"x"),
                             host_header=http_osp.host)
    finally:
        callouts.mode("normal")
    assert (response.status, response.error_code) == (503, "ServiceUnavailable"), response
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


@pytest.mark.parametrize("mode", ["500", "garbage"])
def test_a_failing_secret_service_means_503_for_uncached_keys_and_osp_recovers(http_osp, callouts, journal, mode):
    stranger = s3_client(http_osp.url, ("AKIDSTRANGER%03d" % len(mode), "stranger-secret"))
    callouts.mode(mode)
    try:
        assert error(lambda: stranger.list_objects_v2(Bucket=ALIAS_BUCKET)) == (503, "ServiceUnavailable")
        assert journal.journal() == []
    finally:
        callouts.mode("normal")
    time.sleep(1.2)  # past the negative TTL: the next lookup asks again
    assert error(lambda: stranger.list_objects_v2(Bucket=ALIAS_BUCKET)) == (403, "InvalidAccessKeyId")

"""The `opa` policy backend through osp, with a real Rego engine behind the OPA-compatible endpoint
(integration/policy/osp.rego: alice may read/write/list under team/ of proxy-bucket01 except
team/secret/; reads under team/public/ are answered with a scope).

Every refusal is asserted with its S3 error code and with the backend having seen nothing; backend
failures are 503 ServiceUnavailable (never forwarded) and osp recovers by itself.
"""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import botocore.exceptions
import pytest

from conftest import ALIAS_BUCKET, REAL_BUCKET, REGION, _osp_env, _remember, policy_osp_config
from osptest import processes
from osptest.clients import CLIENT_KEYS, s3_client
from osptest.s3checks import exists_at_backend, stored_bytes

pytest.importorskip("opa_bindings", reason="the Rego engine (opa-golib-python-bindings) is not installed")

HERE = os.path.dirname(os.path.abspath(__file__))


class OpaServer:
    def __init__(self, workdir: str, port: int = 0):
        log = open(os.path.join(workdir, "opa.log"), "ab")
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "policy", "opa_server.py"), "--port", str(port),
             "--policy", os.path.join(HERE, "policy", "osp.rego")],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        _remember(self.process)
        deadline = time.monotonic() + 30
        line = b""
        while not line.startswith(b"READY") and time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                raise RuntimeError("opa_server.py exited before READY")
        self.port = int(line.split()[1])

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
            return json.loads(text) if text else {}

    def requests(self) -> int:
        return self._call("GET", "/__stats")["requests"]

    def reset(self) -> None:
        self._call("POST", "/__reset", {})

    def mode(self, mode: str, delay_ms: int = 0) -> None:
        self._call("POST", "/__mode", {"mode": mode, "delay_ms": delay_ms})

    def stop(self) -> None:
        processes.stop(self.process)


def _config(port: int, backend_port: int, opa_port: int, allow_ttl_seconds: int = 60) -> str:
    return policy_osp_config(port, backend_port, f"""  backend: opa
  opa: {{url: "http://127.0.0.1:{opa_port}/v1/data/osp/allow", timeout_ms: 500, headers: [user-agent]}}
  cache: {{allow_ttl_seconds: {allow_ttl_seconds}, deny_ttl_seconds: 1}}
""")


@pytest.fixture(scope="module")
def opa(workdir):
    server = OpaServer(workdir)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def opa_osp(backend, workdir, opa):
    port = processes.free_port()
    server = processes.start_osp(_config(port, backend.port, opa.port), port, workdir, _osp_env(), "osp-opa")
    _remember(server.process)
    yield server
    processes.stop(server.process)


@pytest.fixture(scope="module")
def alice(opa_osp):
    return s3_client(opa_osp.url, CLIENT_KEYS)


def error_code(call) -> tuple[int, str]:
    with pytest.raises(botocore.exceptions.ClientError) as error:
        call()
    response = error.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_allowed_keys_work_and_denied_ones_never_reach_the_backend(alice, backend_s3, journal, prefix):
    alice.put_object(Bucket=ALIAS_BUCKET, Key=f"team/{prefix}ok", Body=b"granted")
    assert stored_bytes(backend_s3, REAL_BUCKET, f"team/{prefix}ok") == b"granted"
    journal.reset()
    denied = (f"other/{prefix}x", f"team/secret/{prefix}x")
    for key in denied:
        assert error_code(lambda: alice.put_object(Bucket=ALIAS_BUCKET, Key=key, Body=b"x")) == (403, "AccessDenied")
    assert journal.journal() == []
    assert not any(exists_at_backend(backend_s3, REAL_BUCKET, key) for key in denied)


def test_copy_from_a_denied_source_is_refused(alice, backend_s3, journal, prefix):
    backend_s3.put_object(Bucket=REAL_BUCKET, Key="team/secret/opa-source", Body=b"secret")
    journal.reset()
    call = lambda: alice.copy_object(Bucket=ALIAS_BUCKET, Key=f"team/{prefix}copy",  # noqa: E731
                                     CopySource={"Bucket": ALIAS_BUCKET, "Key": "team/secret/opa-source"})
    assert error_code(call) == (403, "AccessDenied")
    assert journal.journal() == []


def test_repeated_requests_cost_one_callout_per_decision(alice, opa, prefix):
    alice.put_object(Bucket=ALIAS_BUCKET, Key=f"team/{prefix}hot", Body=b"hot")
    opa.reset()
    for _ in range(10):
        assert alice.get_object(Bucket=ALIAS_BUCKET, Key=f"team/{prefix}hot")["Body"].read() == b"hot"
    assert opa.requests() == 1


def test_a_scope_answer_costs_one_callout_for_the_whole_prefix(alice, backend_s3, opa, prefix):
    for i in range(5):
        backend_s3.put_object(Bucket=REAL_BUCKET, Key=f"team/public/{prefix}{i}", Body=b"p%d" % i)
    opa.reset()
    for i in range(5):
        assert alice.get_object(Bucket=ALIAS_BUCKET, Key=f"team/public/{prefix}{i}")["Body"].read() == b"p%d" % i
    assert opa.requests() == 1


@pytest.mark.parametrize("mode, delay_ms", [("500", 0), ("garbage", 0), ("normal", 1500)],
                         ids=["answers-500", "answers-garbage", "slower-than-the-timeout"])
def test_a_failing_policy_backend_means_503_and_osp_recovers(alice, opa, backend_s3, journal, prefix, mode, delay_ms):
    key = f"team/{prefix}{mode}-{delay_ms}"
    opa.mode(mode, delay_ms)
    try:
        assert error_code(lambda: alice.put_object(Bucket=ALIAS_BUCKET, Key=key, Body=b"x")) == (503, "ServiceUnavailable")
        assert journal.journal() == []
        assert not exists_at_backend(backend_s3, REAL_BUCKET, key)
    finally:
        opa.mode("normal", 0)
    alice.put_object(Bucket=ALIAS_BUCKET, Key=key, Body=b"after recovery")
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"after recovery"


def test_a_stopped_policy_backend_means_503_until_it_is_back(workdir, backend, backend_s3, journal, prefix):
    opa = OpaServer(workdir)
    port = processes.free_port()
    osp = processes.start_osp(_config(port, backend.port, opa.port), port, workdir, _osp_env(), "osp-opa-restart")
    _remember(osp.process)
    try:
        client = s3_client(osp.url, CLIENT_KEYS)
        opa_port = opa.port
        opa.stop()
        assert error_code(lambda: client.put_object(Bucket=ALIAS_BUCKET, Key=f"team/{prefix}down", Body=b"x")) == \
            (503, "ServiceUnavailable")
        assert journal.journal() == []
        opa = OpaServer(workdir, port=opa_port)
        client.put_object(Bucket=ALIAS_BUCKET, Key=f"team/{prefix}down", Body=b"back")
        assert stored_bytes(backend_s3, REAL_BUCKET, f"team/{prefix}down") == b"back"
    finally:
        opa.stop()
        processes.stop(osp.process)


def test_an_allow_remembered_on_a_connection_ends_with_its_cached_answer(workdir, backend, backend_s3, journal, opa,
                                                                          prefix):
    """A keep-alive connection asking the same question again is answered from its remembered
    allow, without a lookup or callout — but never after the cached answer expires: then the policy
    is asked again, and a policy backend that cannot answer means 503 on that very connection."""
    key = f"team/{prefix}remembered"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"remembered")
    port = processes.free_port()
    osp = processes.start_osp(_config(port, backend.port, opa.port, allow_ttl_seconds=2), port, workdir, _osp_env(),
                              "osp-opa-remembered")
    _remember(osp.process)
    url = urllib.parse.urlsplit(s3_client(osp.url, CLIENT_KEYS).generate_presigned_url(
        "get_object", Params={"Bucket": ALIAS_BUCKET, "Key": key}, ExpiresIn=300))
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=10)

    def get() -> tuple[int, bytes]:
        connection.request("GET", f"{url.path}?{url.query}")
        response = connection.getresponse()
        return response.status, response.read()

    try:
        opa.reset()
        assert [get() for _ in range(5)] == [(200, b"remembered")] * 5
        assert opa.requests() == 1
        time.sleep(2.2)  # past the allow's 2 s
        opa.mode("500")
        journal.reset()
        try:
            status, body = get()
            assert status == 503 and b"<Code>ServiceUnavailable</Code>" in body
            assert journal.journal() == []
            assert opa.requests() == 2
        finally:
            opa.mode("normal", 0)
        assert get() == (200, b"remembered")
        assert opa.requests() == 3
    finally:
        connection.close()
        processes.stop(osp.process)

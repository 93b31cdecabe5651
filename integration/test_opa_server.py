"""The OPA-compatible test server (policy/opa_server.py) and the sample policy (policy/osp.rego),
checked with plain HTTP, so the Swift end-to-end tests stand on a server known to answer like OPA."""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time

import pytest

pytest.importorskip("opa_bindings", reason="pip install --ignore-requires-python opa-golib-python-bindings")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from osptest import processes  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "policy", "opa_server.py")
POLICY = os.path.join(HERE, "policy", "osp.rego")
TOKEN = "test-token-123"
DECISION = "/v1/data/osp/allow"


def start_server(*extra: str, timeout: float = 30) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen([sys.executable, SERVER, "--port", "0", "--policy", POLICY, *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        os.set_blocking(process.stdout.fileno(), False)
        deadline, buffer = time.monotonic() + timeout, b""
        while b"\n" not in buffer:
            if process.poll() is not None:
                raise RuntimeError(f"opa_server exited with {process.returncode}: {process.stderr.read()!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"opa_server not READY after {timeout} s")
            buffer += process.stdout.read() or b""
            time.sleep(0.02)
        line = buffer.split(b"\n", 1)[0].decode()
        assert line.startswith("READY "), line
        return process, int(line.split()[1])
    except BaseException:
        processes.stop(process)
        raise


@pytest.fixture(scope="module")
def server():
    process, port = start_server("--token", TOKEN)
    yield port
    processes.stop(process)


def call(port: int, method: str, path: str, body=None, token: str | None = TOKEN, timeout: float = 10):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        payload = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def decide(port: int, **fields):
    document = {"account": "alice", "principal": "alice", "groups": [], "action": "s3:GetObject",
                "bucket": "proxy-bucket01", "object": "", "conditions": {}}
    document.update(fields)
    status, body = call(port, "POST", DECISION, {"input": document})
    assert status == 200, body
    return json.loads(body)


@pytest.fixture(autouse=True)
def normal_mode(request):
    if "server" in request.fixturenames:
        port = request.getfixturevalue("server")
        call(port, "POST", "/__mode", {"mode": "normal", "delay_ms": 0})
    yield


def test_grant_allows_reads_and_writes_under_the_prefix(server):
    assert decide(server, object="team/report.csv") == {"result": True}
    assert decide(server, action="s3:PutObject", object="team/new.bin") == {"result": True}


def test_outside_the_grant_is_denied(server):
    assert decide(server, object="other/report.csv") == {"result": False}
    assert decide(server, bucket="another-bucket", object="team/report.csv") == {"result": False}
    assert decide(server, account="bob", principal="bob", object="team/report.csv") == {"result": False}


def test_exception_inside_a_granted_prefix_is_denied(server):
    assert decide(server, object="team/secret/plans.txt") == {"result": False}
    assert decide(server, action="s3:ListBucket", conditions={"prefix": ["team/secret/"]}) == {"result": False}


def test_listing_follows_the_prefix_condition(server):
    assert decide(server, action="s3:ListBucket", conditions={"prefix": ["team/"]}) == {"result": True}
    assert decide(server, action="s3:ListBucket", conditions={"prefix": [""]}) == {"result": False}
    assert decide(server, action="s3:ListBucket") == {"result": False}


def test_group_grant(server):
    assert decide(server, account="bob", principal="bob", groups=["readers"], object="shared/x") == {"result": True}
    assert decide(server, account="bob", principal="bob", groups=["readers"], action="s3:PutObject",
                  object="shared/x") == {"result": False}


def test_reads_under_a_scoped_prefix_answer_with_the_scope(server):
    expected = {"result": {"allow": True, "ttl": 60, "scope": {"prefix": "team/public/"}}}
    assert decide(server, object="team/public/index.html") == expected
    # Writes there are plain allows: the scope is for reads only.
    assert decide(server, action="s3:PutObject", object="team/public/index.html") == {"result": True}


def test_undefined_document_has_no_result(server):
    status, body = call(server, "POST", "/v1/data/osp/no_such_rule", {"input": {}})
    assert status == 200
    assert json.loads(body) == {}


def test_bearer_token_is_required(server):
    status, _ = call(server, "POST", DECISION, {"input": {}}, token=None)
    assert status == 401
    status, _ = call(server, "POST", DECISION, {"input": {}}, token="wrong")
    assert status == 401


def test_stats_count_policy_requests_and_reset(server):
    call(server, "POST", "/__reset")
    for _ in range(3):
        decide(server, object="team/x")
    status, body = call(server, "GET", "/__stats")
    assert status == 200 and json.loads(body)["requests"] == 3
    call(server, "POST", "/__reset")
    assert json.loads(call(server, "GET", "/__stats")[1])["requests"] == 0


def test_last_input_is_what_was_posted(server):
    decide(server, object="team/last.txt", request={"method": "GET", "path": "/proxy-bucket01/team/last.txt"})
    last = json.loads(call(server, "GET", "/__last_input")[1])["input"]
    assert last["object"] == "team/last.txt"
    assert last["request"]["path"] == "/proxy-bucket01/team/last.txt"


def test_failure_modes(server):
    call(server, "POST", "/__mode", {"mode": "500"})
    status, body = call(server, "POST", DECISION, {"input": {}})
    assert status == 500 and json.loads(body)["code"] == "internal_error"

    call(server, "POST", "/__mode", {"mode": "garbage"})
    status, body = call(server, "POST", DECISION, {"input": {}})
    assert status == 200
    with pytest.raises(ValueError):
        json.loads(body)

    call(server, "POST", "/__mode", {"mode": "normal", "delay_ms": 400})
    started = time.monotonic()
    assert decide(server, object="team/x") == {"result": True}
    assert time.monotonic() - started >= 0.4
    with pytest.raises(TimeoutError):
        call(server, "POST", DECISION, {"input": {}}, timeout=0.1)


def test_command_line_modes():
    process, port = start_server("--mode", "500", "--delay-ms", "10")
    try:
        status, _ = call(port, "POST", DECISION, {"input": {}}, token=None)
        assert status == 500
        assert json.loads(call(port, "GET", "/__stats")[1]) == {"requests": 1, "mode": "500", "delay_ms": 10}
    finally:
        processes.stop(process)
    assert process.returncode is not None

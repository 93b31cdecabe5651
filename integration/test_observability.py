"""Observability: the admin port (/healthz, /readyz, /metrics) and the JSON access log.

One osp with an admin port, a rules policy (alice may read and write under `obs/` of proxy-bucket01)
and its access log in a file. /metrics is scraped before and after known traffic, and the counters
must have moved by exactly that traffic; the access log must hold one JSON object per request; and
no secret — client or backend secret key, Authorization header, presigned signature — may appear
in /metrics, the access log or the process log.
"""
from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request

import botocore.exceptions
import pytest

from conftest import ALIAS_BUCKET, REAL_BUCKET, REGION, _osp_env, _remember
from osptest import processes
from osptest.clients import BACKEND_KEYS, CLIENT_KEYS, s3_client
from osptest.s3checks import data, stored_bytes

OBJECT_SIZE = 3000
PUT_SIZE = 1000
GETS = 4  # 3 through boto3, 1 through a presigned URL


def _config(port: int, admin_port: int, backend_port: int, access_log: str) -> str:
    keys = 'access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"'
    return f"""
server: {{bind: 127.0.0.1, http_port: {port}, threads: 2}}
admin: {{bind: 127.0.0.1, port: {admin_port}}}
logging: {{access_log: "{access_log}", level: info}}
buckets:
  {ALIAS_BUCKET}: {{host: 127.0.0.1, port: {backend_port}, region: {REGION}, backend_bucket: {REAL_BUCKET}, {keys}}}
keystore:
  - {{access_key: "${{CLIENT_ACCESS_KEY}}", secret_key: "${{CLIENT_SECRET_KEY}}", principal: alice}}
authorization:
  backend: rules
  rules:
    - {{principals: [alice], buckets: [{ALIAS_BUCKET}], prefix: "obs/", actions: [read, write], effect: allow}}
"""


class Admin:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def get(self, path: str, method: str = "GET") -> tuple[int, str]:
        request = urllib.request.Request(self.url + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def scrape(self) -> str:
        status, text = self.get("/metrics")
        assert status == 200, text
        return text


def series(text: str) -> dict[str, float]:
    """`name{labels}` → value, for every sample line of a Prometheus text page."""
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


@pytest.fixture(scope="module")
def obs(backend, workdir):
    port, admin_port = processes.free_port(), processes.free_port()
    access_log = os.path.join(workdir, "osp-obs-access.log")
    server = processes.start_osp(_config(port, admin_port, backend.port, access_log), port, workdir, _osp_env(),
                                 "osp-obs")
    _remember(server.process)
    try:
        admin = Admin(admin_port)
        deadline = time.monotonic() + 30
        while True:  # the admin listener comes up right after the S3 one
            try:
                if admin.get("/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"admin port never ready; log:\n{processes.tail(server.log_path)}")
            time.sleep(0.1)
        yield server, admin, access_log
    finally:
        processes.stop(server.process)


def access_lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


def test_health_readiness_and_unknown_paths(obs):
    _, admin, _ = obs
    assert admin.get("/healthz") == (200, "ok\n")
    assert admin.get("/readyz") == (200, "ready\n")
    assert admin.get("/metrics")[0] == 200
    assert admin.get("/nope")[0] == 404
    assert admin.get(f"/{ALIAS_BUCKET}/obs/x")[0] == 404
    assert admin.get("/metrics", method="POST")[0] == 405


def test_the_s3_port_does_not_serve_admin_paths(obs):
    server, _, _ = obs
    # On the S3 port /metrics is a bucket name like any other: unsigned, so refused, never metrics.
    try:
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
            body, status = response.read().decode(), response.status
    except urllib.error.HTTPError as error:
        body, status = error.read().decode(), error.code
    assert status == 403 and "osp_requests_total" not in body


def test_metrics_move_by_exactly_the_traffic_and_the_access_log_matches(obs, backend_s3, prefix):
    server, admin, access_log = obs
    key = f"obs/{prefix}object.bin"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=data(OBJECT_SIZE))

    sent_authorizations: list[str] = []
    alice = s3_client(server.url, CLIENT_KEYS)
    alice.meta.events.register(
        "before-send.s3.*", lambda request, **_: sent_authorizations.append(request.headers["Authorization"].decode()
                                                                          if isinstance(request.headers["Authorization"], bytes)
                                                                          else request.headers["Authorization"]))
    forger = s3_client(server.url, (CLIENT_KEYS[0], "not-the-secret"))

    log_before = len(access_lines(access_log))
    before = series(admin.scrape())

    for _ in range(GETS - 1):
        assert alice.get_object(Bucket=ALIAS_BUCKET, Key=key)["Body"].read() == data(OBJECT_SIZE)
    presigned = alice.generate_presigned_url("get_object", Params={"Bucket": ALIAS_BUCKET, "Key": key}, ExpiresIn=300)
    signature = re.search(r"X-Amz-Signature=([0-9a-f]+)", presigned).group(1)
    with urllib.request.urlopen(presigned, timeout=30) as response:
        assert response.read() == data(OBJECT_SIZE)
    alice.put_object(Bucket=ALIAS_BUCKET, Key=f"obs/{prefix}put.bin", Body=data(PUT_SIZE, "put"))
    with pytest.raises(botocore.exceptions.ClientError) as bad:
        forger.get_object(Bucket=ALIAS_BUCKET, Key=key)
    assert bad.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    with pytest.raises(botocore.exceptions.ClientError) as denied:
        alice.get_object(Bucket=ALIAS_BUCKET, Key=f"private/{prefix}x")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert stored_bytes(backend_s3, REAL_BUCKET, f"obs/{prefix}put.bin") == data(PUT_SIZE, "put")

    text = admin.scrape()
    after = series(text)

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    assert delta('osp_requests_total{method="GET",action="s3:GetObject",status_class="2xx"}') == GETS
    assert delta('osp_requests_total{method="PUT",action="s3:PutObject",status_class="2xx"}') == 1
    assert delta('osp_requests_total{method="GET",action="s3:GetObject",status_class="4xx"}') == 2
    assert delta('osp_request_duration_seconds_count{method="GET"}') == GETS + 2
    assert delta('osp_request_duration_seconds_count{method="PUT"}') == 1
    assert delta('osp_auth_failures_total{reason="SignatureDoesNotMatch"}') == 1
    assert delta('osp_policy_decisions_total{backend="rules",result="allow"}') == GETS + 1
    assert delta('osp_policy_decisions_total{backend="rules",result="deny"}') == 1
    assert delta("osp_received_bytes_total") == PUT_SIZE
    assert after["osp_open_connections"] >= 0
    assert after['osp_build_info{version="' + re.search(r'osp_build_info\{version="([^"]+)"', text).group(1) + '"}'] == 1

    # Types and names: osp_ exactly once, counters end in _total, the histogram is in seconds.
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    assert types and all(name.startswith("osp_") and not name.startswith("osp_osp_") for name in types)
    assert all(kind == "counter" for name, kind in types.items() if name.endswith("_total"))
    assert types["osp_request_duration_seconds"] == "histogram"
    assert types["osp_open_connections"] == "gauge"

    # The access log: one JSON object per request, in order, agreeing with the counters.
    lines = access_lines(access_log)[log_before:]
    records = [json.loads(line) for line in lines]
    assert len(records) == GETS + 3
    assert sum(record["bytes_out"] for record in records) == delta("osp_sent_bytes_total")
    assert sum(record["bytes_in"] for record in records) == PUT_SIZE
    fields = {"time", "request_id", "remote", "method", "action", "bucket", "key", "status", "bytes_in", "bytes_out",
              "duration_ms", "principal", "decision", "reason", "upstream_status", "error_code"}
    assert all(set(record) == fields for record in records)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"]) for record in records)
    assert len({record["request_id"] for record in records}) == len(records)
    gets = records[:GETS]
    assert all((r["method"], r["action"], r["bucket"], r["key"], r["status"], r["upstream_status"], r["principal"],
                r["decision"], r["bytes_out"], r["remote"]) ==
               ("GET", "s3:GetObject", ALIAS_BUCKET, key, 200, 200, "alice", "allow", OBJECT_SIZE, "127.0.0.1")
               for r in gets)
    put = records[GETS]
    assert (put["method"], put["action"], put["status"], put["bytes_in"]) == ("PUT", "s3:PutObject", 200, PUT_SIZE)
    forged = records[GETS + 1]
    assert (forged["status"], forged["decision"], forged["error_code"], forged["principal"], forged["upstream_status"]) == \
        (403, "none", "SignatureDoesNotMatch", None, None)
    refused = records[GETS + 2]
    assert (refused["status"], refused["decision"], refused["reason"], refused["error_code"], refused["principal"]) == \
        (403, "deny", "no grant", "AccessDenied", "alice")

    # No secret anywhere: not in /metrics, the access log or the process log.
    assert len(sent_authorizations) >= GETS
    secrets = [CLIENT_KEYS[1], BACKEND_KEYS[1], BACKEND_KEYS[0], signature, *sent_authorizations]
    secrets += [value.split("Signature=")[1] for value in sent_authorizations]
    with open(server.log_path, encoding="utf-8", errors="replace") as handle:
        process_log = handle.read()
    for place, content in (("/metrics", text), ("access log", "\n".join(lines)), ("process log", process_log)):
        for secret in secrets:
            assert secret not in content, f"a secret appears in the {place}"
        assert "X-Amz-Signature" not in content and "X-Amz-Credential" not in content


def test_start_up_lines_say_what_listens_where(obs):
    server, admin, _ = obs
    with open(server.log_path, encoding="utf-8", errors="replace") as handle:
        log = handle.read()
    assert "osp listening" in log and f"127.0.0.1:{server.port}" in log
    assert "admin listening" in log and admin.url.rsplit(":", 1)[1] in log
    assert "bucket route" in log and ALIAS_BUCKET in log
    assert "authorization" in log and "rules" in log


def test_without_an_admin_section_nothing_listens_and_start_up_says_so(osp):
    # The suite's shared osp has no admin section.
    with open(osp.log_path, encoding="utf-8", errors="replace") as handle:
        assert "no admin listener" in handle.read()

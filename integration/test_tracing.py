"""Tracing: osp built with the `OpenTelemetry` trait exports its spans to an OTLP/HTTP receiver.

A tiny OTLP/HTTP receiver (POST /v1/traces, protobuf) and an OPA-compatible policy stub run next to
osp; a boto3 client sends a W3C `traceparent`. The exported spans must continue the client's trace:
one `S3 <Operation>` server span per request with `authenticate`, `authorize`, `credentials` and
`upstream` children; the policy callout must carry a `traceparent` of the same trace; and no secret
may appear in what is exported.

Needs the binary built with the trait at .build-otel/debug/osp (integration/run-tests.sh puts it
there; by hand: `swift build --traits OpenTelemetry --product osp --scratch-path .build-otel`), or
OSP_OTEL_BIN; skips itself when it is missing.
"""
from __future__ import annotations

import http.server
import json
import os
import subprocess
import threading
import time

import pytest

from conftest import ALIAS_BUCKET, REAL_BUCKET, REGION, _osp_env, _remember
from osptest import processes
from osptest.clients import BACKEND_KEYS, CLIENT_KEYS, s3_client

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENT_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{CLIENT_TRACE_ID}-{CLIENT_SPAN_ID}-01"
OPA_TOKEN = "tracing-opa-token-5d1e"
STAGES = ["authenticate", "authorize", "credentials", "upstream"]


def otel_binary() -> str:
    return os.environ.get("OSP_OTEL_BIN") or os.path.join(REPO_DIR, ".build-otel", "debug", "osp")


# --- a minimal protobuf reader: enough of OTLP's ExportTraceServiceRequest ------------------------

def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def fields(data: bytes) -> list[tuple[int, object]]:
    """(field number, value) pairs of one message: ints for varints and fixed, bytes for the rest."""
    out, at = [], 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 1:
            value, at = int.from_bytes(data[at:at + 8], "little"), at + 8
        elif wire == 2:
            length, at = _varint(data, at)
            value, at = data[at:at + length], at + length
        elif wire == 5:
            value, at = int.from_bytes(data[at:at + 4], "little"), at + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, value))
    return out


def _attributes(pairs) -> dict[str, object]:
    """KeyValue{key=1, value=2: AnyValue{string=1, bool=2, int=3, double=4}} entries."""
    out = {}
    for key_value in pairs:
        parts = dict(fields(key_value))
        any_value = fields(parts.get(2, b""))
        if any_value:
            number, value = any_value[0]
            out[parts[1].decode()] = value.decode() if number == 1 else value
    return out


def decode_spans(body: bytes) -> tuple[list[dict], list[dict]]:
    """(resource attributes per ResourceSpans, spans) of one export request."""
    resources, spans = [], []
    for number, resource_spans in fields(body):
        if number != 1:
            continue
        for part_number, part in fields(resource_spans):
            if part_number == 1:  # Resource
                resources.append(_attributes(v for n, v in fields(part) if n == 1))
            elif part_number == 2:  # ScopeSpans
                for span_number, span in fields(part):
                    if span_number != 2:
                        continue
                    parts = fields(span)
                    one = {n: v for n, v in parts}
                    spans.append({
                        "trace_id": one.get(1, b"").hex(),
                        "span_id": one.get(2, b"").hex(),
                        "parent_span_id": one.get(4, b"").hex(),
                        "name": one.get(5, b"").decode(),
                        "kind": one.get(6, 0),
                        "attributes": _attributes(v for n, v in parts if n == 9),
                    })
    return resources, spans


# --- the receiver and the policy stub --------------------------------------------------------------

class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[tuple[str, dict[str, str], bytes]] = []

    def add(self, path: str, headers, body: bytes) -> None:
        with self.lock:
            self.requests.append((path, {k.lower(): v for k, v in headers.items()}, body))

    def snapshot(self):
        with self.lock:
            return list(self.requests)


def serve(recorder: Recorder, answer: bytes, content_type: str):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            recorder.add(self.path, self.headers, body)
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    return server


def _config(port: int, backend_port: int, opa_port: int, otlp_port: int) -> str:
    keys = 'access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"'
    return f"""
server: {{bind: 127.0.0.1, http_port: {port}, threads: 2}}
logging: {{access_log: "off"}}
buckets:
  {ALIAS_BUCKET}: {{host: 127.0.0.1, port: {backend_port}, region: {REGION}, backend_bucket: {REAL_BUCKET}, {keys}}}
keystore:
  - {{access_key: "${{CLIENT_ACCESS_KEY}}", secret_key: "${{CLIENT_SECRET_KEY}}", principal: alice}}
authorization:
  backend: opa
  opa: {{url: "http://127.0.0.1:{opa_port}/v1/data/osp/allow", bearer_token: "{OPA_TOKEN}"}}
tracing:
  otlp_endpoint: "http://127.0.0.1:{otlp_port}"
  service_name: osp-tracing-test
  sample_ratio: 1.0
"""


@pytest.fixture(scope="module")
def traced(backend, workdir):
    binary = otel_binary()
    if os.environ.get("OSP_SKIP_OTEL_BUILD") == "1":
        pytest.skip("OSP_SKIP_OTEL_BUILD=1: osp with the OpenTelemetry trait is not built")
    if not os.access(binary, os.X_OK):
        pytest.skip(f"osp built with the OpenTelemetry trait not found at {binary} "
                    "(swift build --traits OpenTelemetry --product osp --scratch-path .build-otel, or set OSP_OTEL_BIN)")
    otlp, opa = Recorder(), Recorder()
    otlp_server = serve(otlp, b"", "application/x-protobuf")
    opa_server = serve(opa, b'{"result": true}', "application/json")
    port = processes.free_port()
    config_path = os.path.join(workdir, "osp-tracing.yaml")
    log_path = os.path.join(workdir, "osp-tracing.log")
    with open(config_path, "w", encoding="utf-8") as handle:
        handle.write(_config(port, backend.port, opa_server.server_port, otlp_server.server_port))
    # Export batches every 200 ms instead of swift-otel's default 5 s.
    env = {**os.environ, **_osp_env(), "OTEL_BSP_SCHEDULE_DELAY": "200"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen([binary, "serve", "--config", config_path], cwd=workdir, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    _remember(process)
    try:
        processes.wait_for_port(port, process, 60, log_path)
        yield port, otlp, opa, log_path
    finally:
        processes.stop(process)
        otlp_server.shutdown()
        opa_server.shutdown()


def _client(port: int):
    client = s3_client(f"http://127.0.0.1:{port}", CLIENT_KEYS)

    def add_traceparent(request, **_):
        request.headers["traceparent"] = TRACEPARENT

    client.meta.events.register("before-sign.s3.*", add_traceparent)
    return client


def _wait_for_spans(otlp: Recorder, wanted, timeout: float = 20.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        spans = [span for path, _, body in otlp.snapshot() for span in decode_spans(body)[1]]
        if wanted(spans) or time.monotonic() > deadline:
            return spans
        time.sleep(0.2)


def test_spans_reach_the_otlp_receiver(traced):
    port, otlp, opa, log_path = traced
    client = _client(port)
    client.put_object(Bucket=ALIAS_BUCKET, Key="tracing/object.txt", Body=b"traced bytes")
    assert client.get_object(Bucket=ALIAS_BUCKET, Key="tracing/object.txt")["Body"].read() == b"traced bytes"

    def complete(spans):
        names = [s["name"] for s in spans if s["trace_id"] == CLIENT_TRACE_ID]
        return "S3 GetObject" in names and "S3 PutObject" in names and names.count("upstream") >= 2

    spans = _wait_for_spans(otlp, complete)
    posts = otlp.snapshot()
    assert posts, f"no OTLP export arrived; osp log:\n{processes.tail(log_path)}"
    assert all(path == "/v1/traces" for path, _, _ in posts)
    assert all(headers.get("content-type") == "application/x-protobuf" for _, headers, _ in posts)
    assert complete(spans), f"spans: {[(s['name'], s['trace_id']) for s in spans]}"

    resources = [r for _, _, body in posts for r in decode_spans(body)[0]]
    assert any(r.get("service.name") == "osp-tracing-test" for r in resources)

    ours = [s for s in spans if s["trace_id"] == CLIENT_TRACE_ID]
    for operation in ("GetObject", "PutObject"):
        root = next(s for s in ours if s["name"] == f"S3 {operation}")
        # The client's span is the parent: osp continued its trace.
        assert root["parent_span_id"] == CLIENT_SPAN_ID
        assert root["kind"] == 2  # SPAN_KIND_SERVER
        assert root["attributes"]["rpc.method"] == operation
        assert root["attributes"]["aws.s3.bucket"] == ALIAS_BUCKET
        assert root["attributes"]["http.response.status_code"] == 200
        children = [s for s in ours if s["parent_span_id"] == root["span_id"]]
        assert sorted(s["name"] for s in children) == sorted(STAGES)
        authorize = next(s for s in children if s["name"] == "authorize")
        assert authorize["attributes"]["osp.policy.backend"] == "opa"
        assert authorize["attributes"]["osp.policy.answered_by"] == "callout"

    # The policy callouts carried osp's authorize span as their parent, in the client's trace.
    authorize_ids = {s["span_id"] for s in ours if s["name"] == "authorize"}
    sent = [headers.get("traceparent", "") for _, headers, _ in opa.snapshot()]
    assert len(sent) == 2
    for traceparent in sent:
        version, trace_id, parent_id, _flags = traceparent.split("-")
        assert (version, trace_id) == ("00", CLIENT_TRACE_ID)
        assert parent_id in authorize_ids

    # Nothing secret in what was exported.
    exported = b"".join(body for _, _, body in posts)
    for secret in (CLIENT_KEYS[1], BACKEND_KEYS[1], BACKEND_KEYS[0], OPA_TOKEN, "tracing/object.txt", "Signature="):
        assert secret.encode() not in exported, f"{secret!r} was exported"

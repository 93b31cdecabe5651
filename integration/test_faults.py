"""Faults on real processes, all on 127.0.0.1, every wait bounded: backends and callouts that die,
hang or refuse; clients that vanish or dawdle; osp's resources under 10,000 failed connects and
1,000 concurrent keep-alive clients.

What must hold: the client gets a clean S3 XML error with the right status, or — once part of a
response is out — a cut connection (a body shorter than its Content-Length, or a reset; never a
short body that looks complete), within the configured timeouts; nothing hangs; osp keeps serving
other buckets meanwhile and recovers by itself, on the same port, without a restart.

Faults are made two ways: a dedicated s3backend killed with SIGKILL (and restarted on its port), and
`osptest.faults.TcpRelay` between osp and a dependency, which can *stall* (accept, answer nothing:
a hung process) or go *down* (port closed: a dead process) and come back *up*, so shared servers
are never touched. Times to error are printed (`pytest -s`) as `FAULT <what>: <seconds>`.

Already covered elsewhere and not repeated: OPA answering 500, garbage or slower than `timeout_ms`,
and OPA stopped then restarted (test_policy_opa.py: test_a_failing_policy_backend_means_503_and_osp_recovers,
test_a_stopped_policy_backend_means_503_until_it_is_back); Redis stopped then restarted
(test_redis_backends.py: test_redis_down_means_503_and_osp_recovers_when_it_is_back); IAM answering
500 or slower than its 10 s exchange timeout (test_ibm_iam.py:
test_iam_failing_means_503_and_nothing_forwarded_then_recovery); IAM unreachable from a bearer
backend (test_iam_peers.py). Added here for all three: hung (connections accepted, nothing answered)
and refusing, each timed against its timeout, then recovery without restarting osp.
"""
from __future__ import annotations

import asyncio
import http.client
import json
import os
import resource
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import botocore.exceptions
import pytest

from conftest import ALIAS_BUCKET, IBM_BUCKET, REAL_BUCKET, REGION, SECOND_BACKEND_KEYS, _osp_env, _remember
from osptest import processes
from osptest.clients import BACKEND_KEYS, CLIENT_KEYS, IAM_API_KEY, BackendAdmin, s3_client
from osptest.faults import TcpRelay, closed_port, fd_count, rss_kib, sockets_to, wait_until
from osptest.s3checks import assert_s3_error, exists_at_backend, stored_bytes
from s3client import signer as sig
from s3client.http import Response, send_prepared, serialize

#: server.idle_timeout_seconds and upstream.read_timeout_seconds of the fault osp (short on purpose).
IDLE = 2
READ = 3
#: Slack for scheduling on a loaded 2-core machine (debug build) on top of a configured timeout.
MARGIN = 3
KILL_BUCKET = "kill-bucket"
KILL_REAL = "kill-real"
STALL_BUCKET = "stall-bucket"
DEAD_BUCKET = "dead-bucket"
MIB = 1 << 20


def _report(what: str, value) -> None:
    print(f"FAULT {what}: {value}")


def _require_osp() -> None:
    if not os.access(processes.osp_binary(), os.X_OK):
        pytest.skip(f"osp binary not found at {processes.osp_binary()} (run `swift build` or set OSP_BIN)")


def _start_osp(config: str, port: int, workdir: str, name: str, env: dict | None = None, **options):
    _require_osp()
    server = processes.start_osp(config, port, workdir, {**_osp_env(), **(env or {})}, name, **options)
    _remember(server.process)
    return server


KEYS = 'access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"'
KEYSTORE = """keystore:
  - {access_key: "${CLIENT_ACCESS_KEY}", secret_key: "${CLIENT_SECRET_KEY}", principal: alice}
"""


def _bucket(name: str, port: int, backend_bucket: str) -> str:
    return (f"  {name}: {{host: 127.0.0.1, port: {port}, region: {REGION}, backend_bucket: {backend_bucket}, "
            f"{KEYS}}}\n")


# ---------------------------------------------------------------------------------------- fixtures


class KillableBackend:
    """A verifying s3backend of this module's own, which a test may SIGKILL and restart on its port."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.port = 0
        self.backend: processes.Backend | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.backend = processes.start_backend(
            {BACKEND_KEYS[0]: BACKEND_KEYS[1], SECOND_BACKEND_KEYS[0]: SECOND_BACKEND_KEYS[1]}, self.workdir,
            f"killable-backend-{self.starts}", port=self.port)
        _remember(self.backend.process)
        self.port = self.backend.port
        self.s3.create_bucket(Bucket=KILL_REAL)

    def ensure_up(self) -> None:
        if self.backend is None or self.backend.process.poll() is not None:
            self.start()

    def kill(self) -> None:
        self.backend.process.kill()
        self.backend.process.wait(timeout=10)

    def stop(self) -> None:
        if self.backend is not None:
            processes.stop(self.backend.process)

    @property
    def s3(self):
        return s3_client(self.backend.url, BACKEND_KEYS)

    @property
    def admin(self) -> BackendAdmin:
        return BackendAdmin(self.backend.url)


@pytest.fixture(scope="module")
def killable(workdir):
    backend = KillableBackend(workdir)
    try:
        backend.start()
        yield backend
    finally:
        backend.stop()


@pytest.fixture(scope="module")
def stall_relay(backend):
    """A relay in front of the shared backend, for STALL_BUCKET."""
    relay = TcpRelay(backend.port)
    try:
        yield relay
    finally:
        relay.close()


@pytest.fixture(scope="module")
def fault_osp(backend, killable, stall_relay, workdir):
    """osp with short timeouts and four routes: healthy, killable, behind the relay, refused."""
    port = processes.free_port()
    config = (
        f"server: {{bind: 127.0.0.1, http_port: {port}, threads: 2, idle_timeout_seconds: {IDLE}}}\n"
        f"upstream: {{connect_timeout_seconds: 2, read_timeout_seconds: {READ}}}\n"
        "buckets:\n"
        + _bucket(ALIAS_BUCKET, backend.port, REAL_BUCKET)
        + _bucket(KILL_BUCKET, killable.port, KILL_REAL)
        + _bucket(STALL_BUCKET, stall_relay.port, REAL_BUCKET)
        + _bucket(DEAD_BUCKET, closed_port(), REAL_BUCKET)
        + KEYSTORE
    )
    server = _start_osp(config, port, workdir, "osp-faults")
    try:
        yield server
    finally:
        processes.stop(server.process)


@pytest.fixture(scope="module")
def alice(fault_osp):
    return _client(fault_osp.url)


def _client(url: str):
    """boto3 for alice that sends each request once: botocore's `max_attempts` counts *retries*, so
    the suite's usual client sends a failing request twice, which doubles every time measured here."""
    return s3_client(url, CLIENT_KEYS, retries={"total_max_attempts": 1, "mode": "standard"})


def _signer(osp) -> sig.RequestSigner:
    return sig.RequestSigner(sig.Credentials(*CLIENT_KEYS), osp.host)


def _presigned_target(osp_url: str, bucket: str, key: str) -> str:
    url = s3_client(osp_url, CLIENT_KEYS).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=900)
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _error(call) -> tuple[int, str]:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        call()
    response = refused.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def _timed(call):
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


# ------------------------------------------------------------------------------ downloads cut short


class CutDownload:
    """A GET through osp read in pieces: `read_until(n)` bytes, then `read_to_end()` after the fault."""

    def __init__(self, osp, bucket: str, key: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", osp.port, timeout=READ + 2 * MARGIN)
        self.connection.request("GET", _presigned_target(osp.url, bucket, key))
        self.response = self.connection.getresponse()
        assert self.response.status == 200, self.response.read()
        self.length = int(self.response.getheader("content-length"))
        self.received = 0

    def read_until(self, count: int) -> None:
        while self.received < count:
            piece = self.response.read(65536)
            assert piece, "the response ended before the fault"
            self.received += len(piece)

    def read_to_end(self) -> str:
        """Reads until the connection ends; how it ended: "eof" or "reset" (a timeout fails the test)."""
        try:
            while True:
                piece = self.response.read(65536)
                if not piece:
                    return "eof"
                self.received += len(piece)
        except (ConnectionResetError, http.client.IncompleteRead):
            return "reset"
        finally:
            self.connection.close()


def test_backend_killed_mid_download_cuts_the_client_and_osp_recovers(fault_osp, killable, alice, prefix):
    killable.ensure_up()
    key = f"{prefix}big.bin"
    body = os.urandom(32 * MIB)
    killable.s3.put_object(Bucket=KILL_REAL, Key=key, Body=body)
    download = CutDownload(fault_osp, KILL_BUCKET, key)
    assert download.length == len(body)
    download.read_until(256 * 1024)

    killable.kill()
    ending, elapsed = _timed(download.read_to_end)

    _report("backend SIGKILLed mid-download, client cut after (s)", f"{elapsed:.2f} ({ending}, "
            f"{download.received} of {download.length} bytes)")
    assert download.received < download.length, "a complete-looking body after the backend died"
    assert elapsed < MARGIN
    # Other buckets are served meanwhile; the dead one is a clean 502.
    assert alice.list_objects_v2(Bucket=ALIAS_BUCKET, MaxKeys=1)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert _error(lambda: alice.get_object(Bucket=KILL_BUCKET, Key=key)) == (502, "BadGateway")

    killable.start()  # same port, empty store
    killable.s3.put_object(Bucket=KILL_REAL, Key=key, Body=b"after the restart")
    got, recovered = _timed(lambda: alice.get_object(Bucket=KILL_BUCKET, Key=key)["Body"].read())
    assert got == b"after the restart"
    _report("first request after the backend restart (s)", f"{recovered:.2f}")


def _raw_upload(osp, request: sig.PreparedRequest, body: bytes, send_before: int, fault) -> tuple[str, float]:
    """Sends `request`'s head and `body` on a raw socket; after `send_before` bytes calls `fault()`, then
    keeps sending. How it ended ("status NNN <code>", "reset") and the seconds from the fault to it."""
    sock = socket.create_connection(("127.0.0.1", osp.port), timeout=READ + 2 * MARGIN)
    faulted_at = None
    try:
        sock.sendall(serialize(request))
        sent = 0
        try:
            while sent < len(body):
                if faulted_at is None and sent >= send_before:
                    fault()
                    faulted_at = time.monotonic()
                sock.sendall(body[sent:sent + 65536])
                sent += 65536
            if faulted_at is None:
                fault()
                faulted_at = time.monotonic()
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while b"\r\n\r\n" not in answer or len(answer) < answer.find(b"\r\n\r\n") + 4 + _content_length(answer):
                piece = sock.recv(65536)
                if not piece:
                    break
                answer += piece
        except ConnectionResetError:
            pass
        elapsed = time.monotonic() - faulted_at
        if not answer:
            return "reset", elapsed
        response = _parse(answer)
        return f"status {response.status} {response.error_code}", elapsed
    finally:
        sock.close()


def _content_length(raw: bytes) -> int:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip() == "content-length":
            return int(value.strip())
    return 0


def _parse(raw: bytes) -> Response:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(int(lines[0].split(" ")[1]), headers, body)


def test_backend_killed_mid_upload_is_an_error_and_nothing_is_replayed(fault_osp, killable, alice, prefix):
    killable.ensure_up()
    key = f"{prefix}upload.bin"
    body = os.urandom(32 * MIB)
    request = _signer(fault_osp).prepare("PUT", f"/{KILL_BUCKET}/{sig.encode_key(key)}", payload_mode=sig.UNSIGNED)
    request.replace_header("Content-Length", str(len(body)))  # not signed: the body follows on the socket

    ending, elapsed = _raw_upload(fault_osp, request, body, send_before=4 * MIB, fault=killable.kill)

    _report("backend SIGKILLed mid-upload, client told after (s)", f"{elapsed:.2f} ({ending})")
    assert ending in ("reset", "status 502 BadGateway"), ending
    assert elapsed < MARGIN

    killable.start()
    alice.put_object(Bucket=KILL_BUCKET, Key=f"{prefix}after", Body=b"recovered")
    assert stored_bytes(killable.s3, KILL_REAL, f"{prefix}after") == b"recovered"
    # osp must not replay the broken upload (or a part of it) on the new backend.
    assert [entry for entry in killable.admin.journal() if key in entry["path"]] == []
    assert not exists_at_backend(killable.s3, KILL_REAL, key)


# --------------------------------------------------------------------------- stalled and refusing


def test_backend_that_accepts_and_never_answers_is_504_within_the_read_timeout(fault_osp, stall_relay, alice,
                                                                               backend_s3, prefix):
    key = f"{prefix}k"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"through the relay")
    request = _signer(fault_osp).prepare("GET", f"/{STALL_BUCKET}/{sig.encode_key(key)}")
    outcome: dict = {}

    def stalled_get():
        outcome["response"], outcome["elapsed"] = _timed(
            lambda: send_prepared("127.0.0.1", fault_osp.port, request, timeout=READ + 2 * MARGIN))

    stall_relay.stall()
    try:
        waiting = threading.Thread(target=stalled_get, daemon=True)
        waiting.start()
        time.sleep(0.5)
        # osp keeps serving other buckets while one backend hangs.
        listed, healthy = _timed(lambda: alice.list_objects_v2(Bucket=ALIAS_BUCKET, MaxKeys=1))
        assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200 and healthy < 2
        waiting.join(timeout=READ + 3 * MARGIN)
        assert not waiting.is_alive(), "the request to a hung backend did not end"
    finally:
        stall_relay.resume()
    _report("backend accepting and never answering -> 504 after (s)", f"{outcome['elapsed']:.2f}")
    assert_s3_error(outcome["response"], 504, "GatewayTimeout")
    assert READ - 0.5 <= outcome["elapsed"] <= READ + MARGIN

    body, recovered = _timed(lambda: alice.get_object(Bucket=STALL_BUCKET, Key=key)["Body"].read())
    assert body == b"through the relay"
    _report("first request after the backend answered again (s)", f"{recovered:.2f}")


def test_backend_stalling_mid_body_cuts_the_client_within_the_read_timeout(fault_osp, stall_relay, alice,
                                                                           backend_s3, prefix):
    key = f"{prefix}big.bin"
    body = os.urandom(32 * MIB)
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=body)
    download = CutDownload(fault_osp, STALL_BUCKET, key)
    try:
        download.read_until(256 * 1024)
        stall_relay.stall()
        ending, elapsed = _timed(download.read_to_end)
    finally:
        stall_relay.resume()
    _report("backend stalling mid-body, client cut after (s)", f"{elapsed:.2f} ({ending}, "
            f"{download.received} of {download.length} bytes)")
    assert download.received < download.length
    assert elapsed <= READ + MARGIN
    assert alice.get_object(Bucket=STALL_BUCKET, Key=key, Range="bytes=0-9")["Body"].read() == body[:10]


def test_backend_that_stops_reading_an_upload_is_cut_within_the_read_timeout(fault_osp, stall_relay, alice,
                                                                            backend_s3, prefix):
    """The backend takes the request head, then reads nothing: osp's buffers towards it fill, osp stops
    reading the client, and nothing moves. That is a stall like any other: the client gets its answer
    (504, or the connection cut once the response could no longer be framed) within the read
    timeout of the buffers filling, nothing is stored, and osp serves the next upload."""
    key = f"{prefix}stalled-upload.bin"
    body = os.urandom(48 * MIB)
    request = _signer(fault_osp).prepare("PUT", f"/{STALL_BUCKET}/{sig.encode_key(key)}", body=body,
                                          payload_mode=sig.UNSIGNED)
    stall_relay.stall()
    try:
        response, elapsed = _timed(lambda: _send_or_cut(fault_osp, request, timeout=READ + 4 * MARGIN))
    finally:
        stall_relay.resume()
    _report("backend not reading an upload, client answered after (s)", f"{elapsed:.2f} ({response})")
    assert response is None or (response.status, response.error_code) == (504, "GatewayTimeout"), response
    # Buffers take a moment to fill; the timeout counts from the last byte the backend took.
    assert elapsed <= READ + 2 * MARGIN
    assert wait_until(lambda: not exists_at_backend(backend_s3, REAL_BUCKET, key), timeout=5) is not None
    alice.put_object(Bucket=STALL_BUCKET, Key=key, Body=b"after the stall")
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"after the stall"


def _send_or_cut(server, request, timeout: float) -> Response | None:
    """The response to `request`, or None when osp cut the connection without one."""
    try:
        return send_prepared("127.0.0.1", server.port, request, timeout=timeout)
    except (ConnectionError, http.client.HTTPException):
        return None


def test_backend_refusing_connections_is_502_at_once(fault_osp, prefix):
    signer = _signer(fault_osp)
    for index in range(3):
        request = signer.prepare("GET", f"/{DEAD_BUCKET}/{prefix}{index}")
        response, elapsed = _timed(lambda: send_prepared("127.0.0.1", fault_osp.port, request, timeout=10))
        assert_s3_error(response, 502, "BadGateway")
        assert elapsed < 1.5
    _report("backend refusing connections -> 502 after (s)", f"{elapsed:.3f}")


# -------------------------------------------------------------------------------- clients that go


def _wait_no_upstream(osp, port: int) -> None:
    # Pooled idle connections close after read_timeout_seconds.
    assert wait_until(lambda: sockets_to(osp.process.pid, port) == 0, READ + MARGIN) is not None


@pytest.mark.parametrize("mode", [sig.UNSIGNED, sig.SIGNED_CHUNKS], ids=["content-length", "aws-chunked"])
def test_client_gone_mid_upload_closes_the_upstream_and_stores_nothing(fault_osp, killable, prefix, mode):
    killable.ensure_up()
    _wait_no_upstream(fault_osp, killable.port)
    key = f"{prefix}gone.bin"
    body = os.urandom(8 * MIB)
    request = _signer(fault_osp).prepare("PUT", f"/{KILL_BUCKET}/{sig.encode_key(key)}", body=body,
                                         payload_mode=mode)
    sock = socket.create_connection(("127.0.0.1", fault_osp.port), timeout=10)
    try:
        wire = serialize(request)
        sock.sendall(wire[: len(wire) - len(request.body) + MIB])  # the head and the first MiB
        upstream_open = wait_until(lambda: sockets_to(fault_osp.process.pid, killable.port) == 1, 5)
        assert upstream_open is not None, "osp never connected to the backend for the upload"
    finally:
        sock.close()
    # Well before read_timeout_seconds, which would close a forgotten connection anyway.
    closed_after = wait_until(lambda: sockets_to(fault_osp.process.pid, killable.port) == 0, READ / 2)
    _report(f"client gone mid-upload ({mode}), upstream closed after (s)", closed_after)
    assert closed_after is not None, "osp kept the backend connection of an abandoned upload"
    time.sleep(0.5)  # let the backend finish whatever it would do with the request
    assert not exists_at_backend(killable.s3, KILL_REAL, key)


@pytest.mark.parametrize("trickle", [False, True], ids=["stops", "trickles"])
def test_slow_header_client_is_cut_at_the_idle_timeout(fault_osp, trickle):
    """A head must be complete within the idle timeout: bytes of an unfinished head do not count as
    activity (the idle timer sits behind the HTTP decoder), so a client trickling its head one byte
    at a time inside the timeout (slowloris) is cut like one that stops."""
    with socket.create_connection(("127.0.0.1", fault_osp.port), timeout=IDLE + 2 * MARGIN) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHo")
        start = time.monotonic()
        stop = threading.Event()

        def trickle_head():
            for byte in b"st: x\r\nX-Slow: " + b"a" * 100:
                if stop.wait(0.4):
                    return
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    return

        sender = threading.Thread(target=trickle_head, daemon=True)
        if trickle:
            sender.start()
        try:
            ending = _read_until_closed(sock)
            elapsed = time.monotonic() - start
        finally:
            stop.set()
            if trickle:
                sender.join(timeout=5)
    _report(f"slow-header client ({'trickling' if trickle else 'stopped'}) cut after (s)", f"{elapsed:.2f} ({ending})")
    assert IDLE - 0.5 <= elapsed <= IDLE + MARGIN


def test_slow_body_client_is_cut_at_the_idle_timeout_and_nothing_is_stored(fault_osp, backend_s3, prefix):
    key = f"{prefix}slow"
    request = _signer(fault_osp).prepare("PUT", f"/{ALIAS_BUCKET}/{sig.encode_key(key)}",
                                         payload_mode=sig.UNSIGNED)
    request.replace_header("Content-Length", "1000")
    with socket.create_connection(("127.0.0.1", fault_osp.port), timeout=IDLE + 2 * MARGIN) as sock:
        sock.sendall(serialize(request) + b"0123456789")
        start = time.monotonic()
        ending = _read_until_closed(sock)
        elapsed = time.monotonic() - start
    _report("slow-body client cut after (s)", f"{elapsed:.2f} ({ending})")
    assert IDLE - 0.5 <= elapsed <= IDLE + MARGIN
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


def _read_until_closed(sock: socket.socket) -> str:
    """Reads until osp closes; what came before ("eof", "eof after NNN", "reset"). A timeout fails."""
    received = b""
    try:
        while True:
            piece = sock.recv(65536)
            if not piece:
                return f"eof after {received.split(b' ', 2)[1].decode()}" if received else "eof"
            received += piece
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        raise AssertionError("osp did not close the connection of a stalled client") from None


# ------------------------------------------------------------------------------- resources at scale


def _drive(port: int, target: str, count: int, threads: int, deadline: float) -> dict[tuple[int, str], int]:
    """`count` presigned GETs of `target` over `threads` keep-alive connections; answers by (status, code)."""
    answers: dict[tuple[int, str], int] = {}
    lock = threading.Lock()

    def worker(share: int):
        local: dict[tuple[int, str], int] = {}
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for _ in range(share):
                if time.monotonic() > deadline:
                    break
                connection.request("GET", target)
                response = connection.getresponse()
                body = response.read()
                code = Response(response.status, {}, body).error_code or ""
                local[(response.status, code)] = local.get((response.status, code), 0) + 1
        finally:
            connection.close()
            with lock:
                for answer, seen in local.items():
                    answers[answer] = answers.get(answer, 0) + seen

    workers = [threading.Thread(target=worker, args=(count // threads,), daemon=True) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=max(1.0, deadline - time.monotonic() + 5))
    return answers


def test_ten_thousand_failed_upstream_connects_leave_fds_and_memory_flat(workdir):
    port = processes.free_port()
    config = (
        f"server: {{bind: 127.0.0.1, http_port: {port}, threads: 2}}\n"
        "upstream: {connect_timeout_seconds: 2}\n"
        "buckets:\n" + _bucket(DEAD_BUCKET, closed_port(), REAL_BUCKET) + KEYSTORE
    )
    server = _start_osp(config, port, workdir, "osp-faults-connects")
    try:
        pid = server.process.pid
        target = _presigned_target(server.url, DEAD_BUCKET, "never-there")
        warm = _drive(port, target, 1_000, 4, time.monotonic() + 60)
        assert warm == {(502, "BadGateway"): 1_000}, warm
        time.sleep(0.5)
        fds_before, rss_before = fd_count(pid), rss_kib(pid)
        start = time.monotonic()
        answers = _drive(port, target, 10_000, 4, start + 120)
        took = time.monotonic() - start
        time.sleep(0.5)
        fds_after, rss_after = fd_count(pid), rss_kib(pid)
        _report("10,000 failed upstream connects", f"{took:.1f} s; fds {fds_before} -> {fds_after}; "
                f"VmRSS {rss_before} -> {rss_after} KiB ({rss_after - rss_before:+d} KiB)")
        assert answers == {(502, "BadGateway"): 10_000}, answers
        assert abs(fds_after - fds_before) <= 2
        assert rss_after - rss_before < 4 * 1024
    finally:
        processes.stop(server.process)


CONCURRENT = 1_000


@pytest.fixture(scope="module")
def nginx_backend(tmp_path_factory):
    """nginx serving `<root>/nginx-bucket/small.txt` (it ignores osp's signature): a backend fast
    enough that 1,000 concurrent requests measure osp, not the backend."""
    if processes.nginx_binary() is None:
        pytest.skip("nginx not installed (integration/setup.sh installs it)")
    root = tmp_path_factory.mktemp("faults-nginx")
    (root / "data" / "nginx-bucket").mkdir(parents=True)
    (root / "data" / "nginx-bucket" / "small.txt").write_bytes(b"small object for many clients\n")
    port = processes.free_port()
    process = processes.start_nginx(root, port, worker_connections=4096, extra_main="worker_rlimit_nofile 8192;",
                                    listen_options="backlog=4096", extra_http="keepalive_requests 100000;")
    _remember(process)
    try:
        yield port
    finally:
        processes.stop(process)


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


async def _keep_alive_round(connections, request: bytes) -> list[tuple[int, bytes, str]]:
    async def one(reader, writer):
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip()
                   for name, _, value in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return int(lines[0].split(" ")[1]), body, headers.get("connection", "")

    return await asyncio.gather(*(one(reader, writer) for reader, writer in connections))


async def _thousand_clients(port: int, request: bytes, pid: int, baseline: int):
    connections = await asyncio.gather(
        *(asyncio.open_connection("127.0.0.1", port) for _ in range(CONCURRENT)))
    try:
        # Connected means queued in the kernel; wait (bounded) until osp has accepted them all.
        deadline = time.monotonic() + 20
        while (open_fds := fd_count(pid)) < baseline + CONCURRENT and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        first = await _keep_alive_round(connections, request)
        second = await _keep_alive_round(connections, request)
        return open_fds, first, second
    finally:
        for _, writer in connections:
            writer.close()


def _soft_fd_limit(wanted_soft: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted_soft, hard))


def _osp_open_file_limits(pid: int) -> tuple[int, int]:
    for line in open(f"/proc/{pid}/limits"):
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no 'Max open files' line")


def test_a_thousand_concurrent_keep_alive_clients_are_served(nginx_backend, workdir):
    # The suite needs 1,000 client sockets here, and osp 1,000 more plus up to 1,000 to the backend.
    # osp is started with the common default soft limit of 1,024 (too few) under a high hard limit:
    # it must raise its own soft limit to the hard one at start-up.
    _raise_fd_limit(4 * CONCURRENT + 512)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4 * CONCURRENT + 512:
        pytest.skip(f"the hard open-file limit ({hard}) is too low for {CONCURRENT} clients")
    port = processes.free_port()
    config = (
        f"server: {{bind: 127.0.0.1, http_port: {port}, threads: 2}}\n"
        "buckets:\n" + _bucket(ALIAS_BUCKET, nginx_backend, "nginx-bucket") + KEYSTORE
    )
    server = _start_osp(config, port, workdir, "osp-faults-clients", preexec_fn=lambda: _soft_fd_limit(1024))
    try:
        soft_limit, hard_limit = _osp_open_file_limits(server.process.pid)
        assert soft_limit == hard_limit, "osp did not raise its soft open-file limit"
        target = _presigned_target(server.url, ALIAS_BUCKET, "small.txt")
        request = f"GET {target} HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode()
        baseline = fd_count(server.process.pid)
        start = time.monotonic()
        open_fds, first, second = asyncio.run(
            asyncio.wait_for(_thousand_clients(port, request, server.process.pid, baseline), timeout=120))
        took = time.monotonic() - start
        _report(f"{CONCURRENT} concurrent keep-alive clients, two requests each", f"{took:.1f} s; "
                f"osp fds {baseline} idle, {open_fds} with the clients connected")
        assert open_fds >= baseline + CONCURRENT, "the clients were not all connected at once"
        expected = (200, b"small object for many clients\n")
        for answers in (first, second):
            assert sum(1 for status, body, _ in answers if (status, body) == expected) == CONCURRENT
            assert not any(connection.lower() == "close" for _, _, connection in answers)
    finally:
        processes.stop(server.process)


# ---------------------------------------------------------------------------- callouts: hung, dead


class _AllowEverything(BaseHTTPRequestHandler):
    """An OPA-compatible endpoint that allows every request (the relay in front makes it fail)."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        body = json.dumps({"result": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the relay resets connections on purpose


def _callout_faults(name: str, put, relay: TcpRelay, timeout: float, backend_has) -> None:
    """Through `relay`: works; hung → 503 after about `timeout`; refused → 503 at once; back up → works.
    `put(name)` uploads a new object through osp, `backend_has(name)` says whether it reached the backend."""
    put("before")
    assert backend_has("before")

    relay.stall()
    try:
        refused, elapsed = _timed(lambda: _error(lambda: put("hung")))
    finally:
        relay.resume()
    _report(f"{name} hung (timeout {timeout} s) -> 503 after (s)", f"{elapsed:.2f}")
    assert refused == (503, "ServiceUnavailable")
    assert timeout - 0.2 <= elapsed <= timeout + MARGIN

    relay.down()
    try:
        refused, elapsed = _timed(lambda: _error(lambda: put("down")))
    finally:
        relay.up()
    _report(f"{name} refusing connections -> 503 after (s)", f"{elapsed:.2f}")
    assert refused == (503, "ServiceUnavailable")
    assert elapsed < 1.5
    assert not backend_has("hung") and not backend_has("down")

    _, recovered = _timed(lambda: put("after"))
    assert backend_has("after")
    _report(f"first request after {name} is back (s)", f"{recovered:.2f}")


def test_opa_hung_or_refusing_is_503_within_its_timeout_and_osp_recovers(backend, backend_s3, workdir, prefix):
    opa = _QuietServer(("127.0.0.1", 0), _AllowEverything)
    threading.Thread(target=opa.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    relay = TcpRelay(opa.server_address[1])
    port = processes.free_port()
    config = (
        f"server: {{bind: 127.0.0.1, http_port: {port}, threads: 2}}\n"
        "buckets:\n" + _bucket(ALIAS_BUCKET, backend.port, REAL_BUCKET) + KEYSTORE
        + "authorization:\n  backend: opa\n"
        f'  opa: {{url: "http://127.0.0.1:{relay.port}/v1/data/osp/allow", timeout_ms: 500}}\n'
        "  cache: {allow_ttl_seconds: 0, deny_ttl_seconds: 0}\n"
    )
    server = None
    try:
        server = _start_osp(config, port, workdir, "osp-faults-opa")
        client = _client(server.url)
        _callout_faults("OPA", lambda name: client.put_object(Bucket=ALIAS_BUCKET, Key=f"{prefix}{name}", Body=b"x"),
                        relay, 0.5, lambda name: exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}{name}"))
    finally:
        if server is not None:
            processes.stop(server.process)
        relay.close()
        opa.shutdown()
        opa.server_close()


def test_redis_hung_or_refusing_is_503_within_its_timeout_and_osp_recovers(backend, backend_s3, workdir, prefix,
                                                                           tmp_path):
    redis_module = pytest.importorskip("test_redis_backends")
    if redis_module.REDIS_SERVER is None or redis_module.REDIS_CLI is None:
        pytest.skip("redis-server / redis-cli not installed")
    redis = redis_module.Redis(str(tmp_path), password="faults-redis-password")
    relay = None
    server = None
    try:
        redis_module.write_schema(redis, "ft:", grants={"alice": [
            {"buckets": [ALIAS_BUCKET], "prefix": prefix, "actions": ["write"], "effect": "allow"}]})
        relay = TcpRelay(redis.port)
        port = processes.free_port()
        config = (
            f"server: {{bind: 127.0.0.1, http_port: {port}, threads: 2}}\n"
            "buckets:\n" + _bucket(ALIAS_BUCKET, backend.port, REAL_BUCKET) + KEYSTORE
            + "authorization: {backend: redis, cache: {allow_ttl_seconds: 0, deny_ttl_seconds: 0}}\n"
            f'redis: {{host: 127.0.0.1, port: {relay.port}, password: "{redis.password}", key_prefix: "ft:", '
            "timeout_ms: 300, grants_ttl_seconds: 0}\n"
        )
        server = _start_osp(config, port, workdir, "osp-faults-redis")
        client = _client(server.url)
        _callout_faults("Redis", lambda name: client.put_object(Bucket=ALIAS_BUCKET, Key=f"{prefix}{name}", Body=b"x"),
                        relay, 0.3, lambda name: exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}{name}"))
    finally:
        if server is not None:
            processes.stop(server.process)
        if relay is not None:
            relay.close()
        redis.stop()


#: osp's IBM IAM exchange timeout (fixed, IAMTokenProvider).
IAM_TIMEOUT = 10


def test_iam_hung_or_refusing_is_503_within_its_timeout_and_osp_recovers(bearer_backend, iam_server, workdir,
                                                                         prefix):
    iam_server.reset()
    relay = TcpRelay(iam_server.port)
    port = processes.free_port()
    config = (
        f"server: {{bind: 127.0.0.1, http_port: {port}, threads: 2}}\n"
        "buckets:\n"
        f"  {IBM_BUCKET}: {{host: 127.0.0.1, port: {bearer_backend.port}, region: {REGION}, "
        f'api_key: "${{IBM_API_KEY}}", iam_endpoint: "http://127.0.0.1:{relay.port}"}}\n'
        + KEYSTORE
    )
    ibm_s3 = s3_client(bearer_backend.url, BACKEND_KEYS)
    server = None
    try:
        server = _start_osp(config, port, workdir, "osp-faults-iam", env={"IBM_API_KEY": IAM_API_KEY})
        client = _client(server.url)
        # The order matters: a token, once exchanged, is cached; so the failures come before any success.
        relay.down()
        refused, elapsed = _timed(lambda: _error(
            lambda: client.put_object(Bucket=IBM_BUCKET, Key=f"{prefix}down", Body=b"x")))
        _report("IAM refusing connections -> 503 after (s)", f"{elapsed:.2f}")
        assert refused == (503, "ServiceUnavailable") and elapsed < 1.5
        relay.up()
        relay.stall()
        try:
            refused, elapsed = _timed(lambda: _error(
                lambda: client.put_object(Bucket=IBM_BUCKET, Key=f"{prefix}hung", Body=b"x")))
        finally:
            relay.resume()
        _report(f"IAM hung (timeout {IAM_TIMEOUT} s) -> 503 after (s)", f"{elapsed:.2f}")
        assert refused == (503, "ServiceUnavailable")
        assert IAM_TIMEOUT - 0.2 <= elapsed <= IAM_TIMEOUT + MARGIN
        assert not exists_at_backend(ibm_s3, IBM_BUCKET, f"{prefix}down")
        assert not exists_at_backend(ibm_s3, IBM_BUCKET, f"{prefix}hung")

        _, recovered = _timed(lambda: client.put_object(Bucket=IBM_BUCKET, Key=f"{prefix}after", Body=b"back"))
        _report("first request after IAM is back (s)", f"{recovered:.2f}")
        assert stored_bytes(ibm_s3, IBM_BUCKET, f"{prefix}after") == b"back"
    finally:
        if server is not None:
            processes.stop(server.process)
        relay.close()

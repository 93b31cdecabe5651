"""osp's process lifecycle, on real processes: SIGTERM drains (idle keep-alive connections close at
once, a download in flight finishes within `server.shutdown_grace_seconds`, what is left after it is
cut) and SIGHUP reloads the config file (a good file serves from the next request on, even on a
connection that is already open; a bad one is refused with its error and the old config keeps serving).

The large download comes from nginx serving a file from disk (it ignores the signature osp adds), so
the backend's speed and memory are not what is measured; the reload tests use the verifying backend.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from urllib.parse import urlsplit

import pytest

from conftest import ALIAS_BUCKET, REAL_BUCKET, _osp_env, _remember
from osptest import processes
from osptest.clients import CLIENT_KEYS, REGION, s3_client

BIG_SIZE = 1 << 30  # 1 GiB
BLOCK = 1 << 20
#: A second client key, only in the reloaded config.
BOB_KEYS = ("AKIDBOB00000002", "bob-secret-after-reload-0002")
#: A bucket only in the reloaded config (an alias of REAL_BUCKET).
RELOADED_BUCKET = "reloaded-bucket01"


# ---------------------------------------------------------------------------------------- helpers


def _require_osp() -> None:
    if not os.access(processes.osp_binary(), os.X_OK):
        pytest.skip(f"osp binary not found at {processes.osp_binary()} (run `swift build` or set OSP_BIN)")


def _start(config_text: str, port: int, workdir: str, name: str) -> processes.Osp:
    _require_osp()
    server = processes.start_osp(config_text, port, workdir, _osp_env(), name)
    _remember(server.process)
    return server


def _presigned_target(osp_url: str, bucket: str, key: str, keys: tuple[str, str] = CLIENT_KEYS) -> str:
    """The path and query of a presigned GET through osp: replayable on any raw connection."""
    url = s3_client(osp_url, keys).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600)
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _get(connection: http.client.HTTPConnection, target: str) -> tuple[int, bytes]:
    connection.request("GET", target)
    response = connection.getresponse()
    return response.status, response.read()


def _keep_alive_connection(port: int, target: str) -> http.client.HTTPConnection:
    """A connection that has served one request and is now idle (keep-alive)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    status, _ = _get(connection, target)
    assert status == 200
    return connection


def _sees_eof(sock: socket.socket, timeout: float) -> bool:
    """Whether the peer closed `sock` (orderly EOF) within `timeout`."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False


def _refuses_connections(port: int, timeout: float) -> bool:
    """Whether new connections to `port` are refused within `timeout` (the listener is closed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
        except ConnectionRefusedError:
            return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def _wait_for_log(server: processes.Osp, text: str, timeout: float, occurrences: int = 1) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(server.log_path, encoding="utf-8", errors="replace") as handle:
            log = handle.read()
        if log.count(text) >= occurrences:
            return log
        if server.process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in the osp log after {timeout} s:\n{processes.tail(server.log_path)}")


def _wait_exit(process: subprocess.Popen, timeout: float) -> float:
    """Seconds until `process` exited; fails (the caller's finally stops it) after `timeout`."""
    start = time.monotonic()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"osp still running {timeout} s after SIGTERM") from None
    return time.monotonic() - start


# ------------------------------------------------------------------------------------ SIGTERM, idle


def test_sigterm_with_idle_keep_alive_clients_exits_at_once(backend, backend_s3, workdir, prefix):
    """Idle keep-alive connections do not hold a shutdown for its grace period (30 s here)."""
    key = f"{prefix}hello.txt"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"hello")
    port = processes.free_port()
    server = _start(_config(port, backend.port, grace=30), port, workdir, "osp-life-idle")
    connections: list[http.client.HTTPConnection] = []
    silent: socket.socket | None = None
    try:
        target = _presigned_target(server.url, ALIAS_BUCKET, key)
        connections = [_keep_alive_connection(port, target) for _ in range(4)]
        # and one that connected but never sent a byte
        silent = socket.create_connection(("127.0.0.1", port), timeout=5)
        time.sleep(0.2)

        server.process.send_signal(signal.SIGTERM)
        elapsed = _wait_exit(server.process, timeout=10)

        assert server.process.returncode == 0, processes.tail(server.log_path)
        assert elapsed < 5, f"exit took {elapsed:.1f} s"
        for connection in connections:
            assert _sees_eof(connection.sock, timeout=2)
        assert _sees_eof(silent, timeout=2)
        assert _refuses_connections(port, timeout=2)
        log = _wait_for_log(server, "draining client connections", timeout=1)
        assert "connections=5" in log
    finally:
        for connection in connections:
            connection.close()
        if silent is not None:
            silent.close()
        processes.stop(server.process)


# ------------------------------------------------------------------------------- SIGTERM, download


@pytest.fixture(scope="module")
def big_backend(tmp_path_factory):
    """nginx serving `big/big.bin` (1 GiB, pseudo-random, no two blocks alike) and `big/small.txt`
    from a temp directory. Yields (port, sha256 of big.bin). nginx is stopped and the file removed."""
    if processes.nginx_binary() is None:
        pytest.skip("nginx not installed (integration/setup.sh installs it)")
    root = tmp_path_factory.mktemp("lifecycle-nginx")
    data = root / "data" / "big"
    data.mkdir(parents=True)
    (root / "logs").mkdir()
    digest = hashlib.sha256()
    seed = os.urandom(BLOCK)
    with open(data / "big.bin", "wb") as handle:
        for index in range(BIG_SIZE // BLOCK):
            block = index.to_bytes(8, "big") + seed[8:]
            digest.update(block)
            handle.write(block)
    (data / "small.txt").write_bytes(b"small")
    port = processes.free_port()
    process = processes.start_nginx(root, port, extra_http="sendfile on;")
    _remember(process)
    try:
        yield port, digest.hexdigest()
    finally:
        processes.stop(process)
        shutil.rmtree(root, ignore_errors=True)


def _big_config(http_port: int, nginx_port: int, grace: int, admin_port: int | None = None) -> str:
    return (
        f"server: {{bind: 127.0.0.1, http_port: {http_port}, threads: 2, shutdown_grace_seconds: {grace}}}\n"
        + (f"admin: {{bind: 127.0.0.1, port: {admin_port}}}\n" if admin_port else "")
        + "buckets:\n"
        f"  big: {{host: 127.0.0.1, port: {nginx_port}, tls: false, region: {REGION}, addressing_style: path,"
        ' access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"}\n'
        "keystore:\n"
        '  - {access_key: "${CLIENT_ACCESS_KEY}", secret_key: "${CLIENT_SECRET_KEY}", principal: alice}\n'
    )


def _start_download(port: int, target: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", target)
    response = connection.getresponse()
    assert response.status == 200, response.read(2000)
    assert int(response.getheader("content-length")) == BIG_SIZE
    return connection, response


def _readyz(admin_port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=5)
    try:
        return _get(connection, "/readyz")[0]
    finally:
        connection.close()


def test_sigterm_lets_a_1gib_download_finish_byte_exact(big_backend, workdir):
    nginx_port, expected_sha256 = big_backend
    grace = 120
    port, admin_port = processes.free_port(), processes.free_port()
    server = _start(_big_config(port, nginx_port, grace, admin_port), port, workdir, "osp-life-download")
    idle: http.client.HTTPConnection | None = None
    connection: http.client.HTTPConnection | None = None
    try:
        idle = _keep_alive_connection(port, _presigned_target(server.url, "big", "small.txt"))
        assert _readyz(admin_port) == 200
        connection, response = _start_download(port, _presigned_target(server.url, "big", "big.bin"))
        digest = hashlib.sha256()
        received = 0
        while received < 16 * BLOCK:
            chunk = response.read(BLOCK)
            assert chunk
            digest.update(chunk)
            received += len(chunk)

        server.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        # The idle connection closes at once, the listener stops accepting, the download goes on.
        assert _sees_eof(idle.sock, timeout=3), "idle keep-alive connection not closed at SIGTERM"
        assert _refuses_connections(port, timeout=3), "new connections still accepted after SIGTERM"
        assert server.process.poll() is None, "osp exited with a download in flight"
        assert _readyz(admin_port) == 503, "/readyz still ready while draining"

        while True:
            chunk = response.read(BLOCK)
            if not chunk:
                break
            digest.update(chunk)
            received += len(chunk)
        download_end = time.monotonic()
        assert received == BIG_SIZE
        assert digest.hexdigest() == expected_sha256
        # The connection ends with the response, and osp exits after it, inside the grace period.
        assert _sees_eof(connection.sock, timeout=5)
        _wait_exit(server.process, timeout=max(1.0, grace - (time.monotonic() - signalled)))
        assert server.process.returncode == 0, processes.tail(server.log_path)
        exited = time.monotonic()
        print(f"download finished {download_end - signalled:.1f} s after SIGTERM; osp exited "
              f"{exited - download_end:.2f} s later")
        assert exited - download_end < 5
        log = _wait_for_log(server, "client connections drained", timeout=1)
        assert "grace period over" not in log
    finally:
        for open_connection in (idle, connection):
            if open_connection is not None:
                open_connection.close()
        processes.stop(server.process)


def test_sigterm_cuts_what_is_left_after_the_grace_period(big_backend, workdir):
    """A client that stops reading cannot hold the shutdown past `shutdown_grace_seconds`."""
    nginx_port, _ = big_backend
    grace = 2
    port = processes.free_port()
    server = _start(_big_config(port, nginx_port, grace), port, workdir, "osp-life-grace")
    connection: http.client.HTTPConnection | None = None
    try:
        connection, response = _start_download(port, _presigned_target(server.url, "big", "big.bin"))
        assert response.read(BLOCK)
        server.process.send_signal(signal.SIGTERM)  # and read no more
        elapsed = _wait_exit(server.process, timeout=grace + 10)
        assert server.process.returncode == 0, processes.tail(server.log_path)
        assert grace - 0.5 <= elapsed < grace + 3, f"exit took {elapsed:.1f} s with a {grace} s grace period"
        log = _wait_for_log(server, "grace period over", timeout=1)
        cut = next(line for line in log.splitlines() if "grace period over" in line)
        assert "connections=1" in cut
        # What the client still gets is less than the object: the cut is visible.
        received = BLOCK
        connection.sock.settimeout(10)
        try:
            while chunk := response.read(BLOCK):
                received += len(chunk)
        except (http.client.IncompleteRead, ConnectionError):
            pass
        assert received < BIG_SIZE
    finally:
        if connection is not None:
            connection.close()
        processes.stop(server.process)


# -------------------------------------------------------------------------------------------- SIGHUP


def _config(http_port: int, backend_port: int, grace: int = 30, threads: int = 2, reloaded: bool = False,
            extra: str = "") -> str:
    """proxy-bucket01 → real-bucket01 on the verifying backend, alice's key; `reloaded` adds
    RELOADED_BUCKET and bob's key."""
    backend_keys = 'access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"'
    lines = [
        f"server: {{bind: 127.0.0.1, http_port: {http_port}, threads: {threads}, shutdown_grace_seconds: {grace}}}",
        "buckets:",
        f"  {ALIAS_BUCKET}: {{host: 127.0.0.1, port: {backend_port}, region: {REGION}, "
        f"backend_bucket: {REAL_BUCKET}, {backend_keys}}}",
    ]
    if reloaded:
        lines.append(f"  {RELOADED_BUCKET}: {{host: 127.0.0.1, port: {backend_port}, region: {REGION}, "
                     f"backend_bucket: {REAL_BUCKET}, {backend_keys}}}")
    lines += ["keystore:",
              '  - {access_key: "${CLIENT_ACCESS_KEY}", secret_key: "${CLIENT_SECRET_KEY}", principal: alice}']
    if reloaded:
        lines.append(f"  - {{access_key: {BOB_KEYS[0]}, secret_key: {BOB_KEYS[1]}, principal: bob}}")
    return "\n".join(lines) + "\n" + extra


def _thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _rewrite(server: processes.Osp, text: str) -> None:
    temporary = server.config_path + ".new"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, server.config_path)


def test_sighup_with_a_good_file_serves_it_from_the_next_request(backend, backend_s3, workdir, prefix):
    key = f"{prefix}object.txt"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"reloaded")
    port = processes.free_port()
    server = _start(_config(port, backend.port), port, workdir, "osp-life-reload")
    connection: http.client.HTTPConnection | None = None
    try:
        connection = _keep_alive_connection(port, _presigned_target(server.url, ALIAS_BUCKET, key))
        local_address = connection.sock.getsockname()
        # Before: neither bob's key nor the new bucket exists.
        assert _get(connection, _presigned_target(server.url, ALIAS_BUCKET, key, BOB_KEYS))[0] == 403
        assert _get(connection, _presigned_target(server.url, RELOADED_BUCKET, key))[0] == 404

        _rewrite(server, _config(port, backend.port, threads=1, reloaded=True))
        server.process.send_signal(signal.SIGHUP)
        log = _wait_for_log(server, "config reloaded", timeout=15)

        # The open connection takes the new config on its next request.
        assert _get(connection, _presigned_target(server.url, RELOADED_BUCKET, key)) == (200, b"reloaded")
        assert _get(connection, _presigned_target(server.url, ALIAS_BUCKET, key, BOB_KEYS)) == (200, b"reloaded")
        assert _get(connection, _presigned_target(server.url, ALIAS_BUCKET, key)) == (200, b"reloaded")
        assert connection.sock.getsockname() == local_address, "the client had to reconnect"
        # A new connection too, and through boto3.
        bob = s3_client(server.url, BOB_KEYS)
        assert bob.get_object(Bucket=RELOADED_BUCKET, Key=key)["Body"].read() == b"reloaded"
        # The event-loop count cannot change in a running process: said, not applied.
        assert "needs a restart" in log and "key=server.threads" in log
        assert server.process.poll() is None
        assert BOB_KEYS[1] not in log

        # Each reload's gateway brings callout threads; a replaced one stops them, so repeated
        # reloads do not pile threads up.
        threads_after_one = _thread_count(server.process.pid)
        for count in range(2, 12):
            server.process.send_signal(signal.SIGHUP)
            _wait_for_log(server, "config reloaded", timeout=15, occurrences=count)
        assert _get(connection, _presigned_target(server.url, RELOADED_BUCKET, key)) == (200, b"reloaded")
        # Slack for dispatch's own worker threads (they come and go); a leak would be 4 per reload.
        limit = threads_after_one + 3
        deadline = time.monotonic() + 5
        while _thread_count(server.process.pid) > limit and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _thread_count(server.process.pid) <= limit
    finally:
        if connection is not None:
            connection.close()
        processes.stop(server.process)


def test_sighup_with_a_bad_file_keeps_the_running_config(backend, backend_s3, workdir, prefix):
    key = f"{prefix}object.txt"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"still here")
    port = processes.free_port()
    server = _start(_config(port, backend.port), port, workdir, "osp-life-bad-reload")
    connection: http.client.HTTPConnection | None = None
    try:
        target = _presigned_target(server.url, ALIAS_BUCKET, key)
        connection = _keep_alive_connection(port, target)

        # bob's key and the new bucket, but also an unknown key: the whole file is refused.
        secret_marker = "secret-in-the-bad-file-0003"
        _rewrite(server, _config(port, backend.port, reloaded=True,
                                 extra=f"keystre:\n  - {{access_key: x, secret_key: {secret_marker}}}\n"))
        server.process.send_signal(signal.SIGHUP)
        log = _wait_for_log(server, "config reload refused", timeout=15)
        refusal = next(line for line in log.splitlines() if "config reload refused" in line)
        assert "unknown key 'keystre'" in refusal
        assert secret_marker not in log

        # The old config serves on: the open connection, a new one, and nothing of the bad file.
        assert _get(connection, target) == (200, b"still here")
        assert _get(connection, _presigned_target(server.url, RELOADED_BUCKET, key))[0] == 404
        assert _get(connection, _presigned_target(server.url, ALIAS_BUCKET, key, BOB_KEYS))[0] == 403
        assert s3_client(server.url, CLIENT_KEYS).get_object(Bucket=ALIAS_BUCKET, Key=key)["Body"].read() \
            == b"still here"
        assert "config reloaded" not in log

        # A refused file does not stop the next good one.
        _rewrite(server, _config(port, backend.port, reloaded=True))
        server.process.send_signal(signal.SIGHUP)
        _wait_for_log(server, "config reloaded", timeout=15)
        assert _get(connection, _presigned_target(server.url, RELOADED_BUCKET, key)) == (200, b"still here")
        assert server.process.poll() is None
    finally:
        if connection is not None:
            connection.close()
        processes.stop(server.process)

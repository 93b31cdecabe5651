"""Starting and (always) stopping the servers the suite talks to."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

INTEGRATION_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO_DIR = os.path.dirname(INTEGRATION_DIR)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen | None) -> None:
    """SIGTERM, then SIGKILL after 3 s; only ever the process we started."""
    if process is None or process.poll() is not None:
        return
    try:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=3)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def wait_for_port(port: int, process: subprocess.Popen, timeout: float, log_path: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}; "
                               f"log:\n{tail(log_path)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout} s; log:\n{tail(log_path)}")


def tail(path: str, lines: int = 40) -> str:
    try:
        with open(path, "rb") as handle:
            return b"\n".join(handle.read().splitlines()[-lines:]).decode("utf-8", "replace")
    except OSError:
        return "(no log)"


def read_ready_port(process: subprocess.Popen, name: str, timeout: float, log_path: str | None = None) -> int:
    """The port from a test server's first stdout line, `READY <port>` (every server here prints one).

    Bounded by `timeout`; raises (without stopping the process: its starter does that) if the process
    exits first or says something else.
    """
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)
    buffer = b""
    while b"\n" not in buffer:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail(log_path) if log_path else ''}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} not READY after {timeout} s:\n{tail(log_path) if log_path else ''}")
        piece = process.stdout.read()
        if piece:
            buffer += piece
        else:
            time.sleep(0.05)
    line = buffer.split(b"\n", 1)[0].decode()
    if not line.startswith("READY "):
        raise RuntimeError(f"unexpected first line from {name}: {line!r}")
    return int(line.split()[1])


@dataclass
class Backend:
    """A running verifying backend (`python3 -m s3backend`)."""

    process: subprocess.Popen
    port: int
    scheme: str
    log_path: str
    journal_path: str
    #: With TLS: the backend's self-signed certificate (PEM), for clients to trust.
    ca_file: str | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"


def start_backend(credentials: dict[str, str], workdir: str, name: str = "backend", tls: bool = False,
                  timeout: float = 60, bearer_introspect: str | None = None, port: int = 0) -> Backend:
    """`bearer_introspect`: an IAM introspection URL, so the backend also takes `Authorization: Bearer`.
    `port`: 0 picks a free one; a given one lets a test restart a backend where osp expects it."""
    log_path = os.path.join(workdir, f"{name}.log")
    journal_path = os.path.join(workdir, f"{name}.journal.jsonl")
    command = [sys.executable, "-m", "s3backend", "--port", str(port), "--region", "us-east-1",
               "--journal", journal_path, "--verbose"]
    for access_key, secret in credentials.items():
        command += ["--credentials", f"{access_key}:{secret}"]
    tls_dir = os.path.join(workdir, f"{name}-tls")
    if tls:
        command += ["--tls", "--tls-dir", tls_dir]
    if bearer_introspect:
        command += ["--bearer-introspect", bearer_introspect]
    log = open(log_path, "wb")
    process = subprocess.Popen(command, cwd=INTEGRATION_DIR, stdout=subprocess.PIPE, stderr=log,
                               stdin=subprocess.DEVNULL)
    log.close()
    try:
        port = read_ready_port(process, "s3backend", timeout, log_path)
    except BaseException:
        stop(process)
        raise
    return Backend(process, port, "https" if tls else "http", log_path, journal_path,
                   os.path.join(tls_dir, "cert.pem") if tls else None)


def osp_binary() -> str:
    return os.environ.get("OSP_BIN") or os.path.join(REPO_DIR, ".build", "debug", "osp")


@dataclass
class Osp:
    process: subprocess.Popen
    port: int
    config_path: str
    log_path: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


def start_osp(config_text: str, port: int, workdir: str, env: dict[str, str], name: str = "osp",
              timeout: float = 60, preexec_fn=None) -> Osp:
    """`preexec_fn`: run in the child before osp starts (e.g. to set its resource limits)."""
    config_path = os.path.join(workdir, f"{name}.yaml")
    log_path = os.path.join(workdir, f"{name}.log")
    with open(config_path, "w", encoding="utf-8") as handle:
        handle.write(config_text)
    log = open(log_path, "wb")
    process = subprocess.Popen([osp_binary(), "serve", "--config", config_path], cwd=workdir,
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               env={**os.environ, **env}, preexec_fn=preexec_fn)
    log.close()
    try:
        wait_for_port(port, process, timeout, log_path)
    except BaseException:
        stop(process)
        raise
    return Osp(process, port, config_path, log_path)


def nginx_binary() -> str | None:
    """nginx from PATH or /usr/sbin (integration/setup.sh installs it), or None."""
    return shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)


def start_nginx(root, port: int, worker_connections: int = 256, extra_main: str = "", listen_options: str = "",
                extra_http: str = "") -> subprocess.Popen:
    """A plain nginx serving `<root>/data` on 127.0.0.1:`port` (keep-alive, no access log), its temp
    files and logs under `root`; returns once it listens. The caller stops it (`stop`)."""
    root = Path(root)
    (root / "logs").mkdir(exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""
    (root / "nginx.conf").write_text(f"""{user}
daemon off;
worker_processes 1;
{extra_main}
pid {root}/nginx.pid;
error_log {root}/logs/error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
    access_log off;
    keepalive_timeout 75s;
    {extra_http}
    default_type application/octet-stream;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port} {listen_options};
        root {root}/data;
    }}
}}
""")
    log = open(root / "logs" / "stdout.log", "wb")
    process = subprocess.Popen([nginx_binary() or "nginx", "-p", str(root), "-c", str(root / "nginx.conf")],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    try:
        wait_for_port(port, process, 15, str(root / "logs" / "error.log"))
    except BaseException:
        stop(process)
        raise
    return process

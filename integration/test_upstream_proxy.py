"""osp reaches backends through a corporate forward proxy: a real one, Debian's tinyproxy.

TLS backends go through an HTTP CONNECT tunnel (TLS stays end to end: osp still verifies the
backend's certificate against its ca_file), plain backends through absolute-form requests, with
the proxy's Basic credentials when it needs them; NO_PROXY bypasses it. tinyproxy's own log is the
evidence that a request went through it (or did not), the verifying backend's journal that the
SigV4 signature osp made still verified behind the proxy.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid

import botocore.exceptions
import pytest

from conftest import REAL_BUCKET, REGION, _osp_env, _remember
from osptest import processes
from osptest.clients import BACKEND_KEYS, CLIENT_KEYS, BackendAdmin, s3_client
from osptest.s3checks import exists_at_backend, stored_bytes
from test_sources import CAROL_KEYS, CalloutServer

TLS_BUCKET = "proxied-tls-bucket"
PLAIN_BUCKET = "proxied-plain-bucket"
PROXY_USER, PROXY_PASSWORD = "osp-proxy-user", "proxy-pass-0001"

pytestmark = pytest.mark.skipif(shutil.which("tinyproxy") is None, reason="tinyproxy not installed (integration/setup.sh)")


class Tinyproxy:
    """One tinyproxy on a free loopback port, with its own config and log in the work dir."""

    def __init__(self, workdir: str, connect_ports: list[int], basic_auth: tuple[str, str] | None = None):
        self.port = processes.free_port()
        name = f"tinyproxy-{uuid.uuid4().hex[:8]}"
        self.log_path = os.path.join(workdir, f"{name}.log")
        config_path = os.path.join(workdir, f"{name}.conf")
        lines = [
            f"Port {self.port}", "Listen 127.0.0.1", "Timeout 30", f'LogFile "{self.log_path}"',
            "LogLevel Connect", "MaxClients 50", "Allow 127.0.0.1", "DisableViaHeader Yes",
        ]
        lines += [f"ConnectPort {port}" for port in connect_ports]
        if basic_auth:
            lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
        with open(config_path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        self.process = subprocess.Popen(["tinyproxy", "-d", "-c", config_path], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        _remember(self.process)
        try:
            processes.wait_for_port(self.port, self.process, 20, self.log_path)
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[str]:
        """The request-lines tinyproxy received, in order (`CONNECT host:port HTTP/1.1`, `GET http://… HTTP/1.1`)."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError:
            return []
        return re.findall(r"Request \(file descriptor \d+\): (.*)", text)

    def stop(self) -> None:
        processes.stop(self.process)


@pytest.fixture
def proxies(workdir):
    """`proxies(connect_ports, basic_auth=None)` starts a tinyproxy; all are stopped after the test."""
    started: list[Tinyproxy] = []

    def start(connect_ports: list[int], basic_auth: tuple[str, str] | None = None) -> Tinyproxy:
        proxy = Tinyproxy(workdir, connect_ports, basic_auth)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture
def osps(workdir):
    """`osps(buckets_yaml, upstream_yaml, env={})` starts an osp; all are stopped after the test."""
    started = []

    def start(buckets: str, upstream: str, env: dict[str, str] | None = None, name: str = "osp-proxy", extra: str = ""):
        port = processes.free_port()
        config = (
            f"server: {{bind: 127.0.0.1, http_port: {port}, threads: 2}}\n"
            f"upstream: {upstream}\n"
            f"buckets:\n{buckets}"
            "keystore:\n"
            '  - {access_key: "${CLIENT_ACCESS_KEY}", secret_key: "${CLIENT_SECRET_KEY}", principal: alice}\n'
            + extra
        )
        # No proxy variable of the test runner's own environment may leak in.
        clean = {name: "" for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")}
        server = processes.start_osp(config, port, workdir, {**_osp_env(), **clean, **(env or {})},
                                     f"{name}-{uuid.uuid4().hex[:6]}")
        _remember(server.process)
        started.append(server)
        return server

    yield start
    for server in started:
        processes.stop(server.process)


def _tls_bucket(backend) -> str:
    return (f"  {TLS_BUCKET}: {{host: 127.0.0.1, port: {backend.port}, tls: true, region: {REGION}, "
            f'ca_file: "{backend.ca_file}", '
            'access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"}\n')


def _plain_bucket(backend) -> str:
    return (f"  {PLAIN_BUCKET}: {{host: 127.0.0.1, port: {backend.port}, region: {REGION}, backend_bucket: {REAL_BUCKET}, "
            'access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"}\n')


@pytest.fixture(scope="module")
def tls_backend_bucket(tls_backend):
    client = s3_client(tls_backend.url, BACKEND_KEYS, verify=tls_backend.ca_file)
    try:
        client.create_bucket(Bucket=TLS_BUCKET)
    except botocore.exceptions.ClientError as error:
        if error.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    return client


def _connects_to(proxy: Tinyproxy, port: int) -> list[str]:
    return [line for line in proxy.requests() if line.startswith(f"CONNECT 127.0.0.1:{port} ")]


def test_tls_backend_through_a_connect_tunnel(tls_backend, tls_backend_bucket, proxies, osps):
    proxy = proxies([tls_backend.port])
    # The bucket's own ca_file, not upstream.ca_file: certificate verification stays on through the tunnel.
    osp = osps(_tls_bucket(tls_backend), f'{{verify: true, https_proxy: "{proxy.url}"}}')
    client = s3_client(osp.url, CLIENT_KEYS)
    body = b"through the tunnel " * 2000
    client.put_object(Bucket=TLS_BUCKET, Key="tunnel/obj", Body=body)
    for _ in range(3):
        assert client.get_object(Bucket=TLS_BUCKET, Key="tunnel/obj")["Body"].read() == body
    assert tls_backend_bucket.get_object(Bucket=TLS_BUCKET, Key="tunnel/obj")["Body"].read() == body

    connects = _connects_to(proxy, tls_backend.port)
    assert connects, f"tinyproxy saw no CONNECT: {proxy.requests()}"
    assert all(line.endswith("HTTP/1.1") for line in connects)
    # The test backend (werkzeug) closes every connection after its response, so each request needs a
    # fresh tunnel here; tunnel reuse is shown against a keep-alive TLS backend below.
    assert 1 <= len(connects) <= 4
    # Nothing else went through the proxy, and nothing went around it.
    assert len(proxy.requests()) == len(connects)


def test_proxy_credentials_wrong_is_502_and_nothing_reaches_the_backend(tls_backend, tls_backend_bucket, proxies, osps):
    proxy = proxies([tls_backend.port], basic_auth=(PROXY_USER, PROXY_PASSWORD))
    journal = BackendAdmin(tls_backend.url)
    journal.reset()
    wrong = osps(_tls_bucket(tls_backend), f'{{https_proxy: "http://{PROXY_USER}:not-the-password@127.0.0.1:{proxy.port}"}}',
                 name="osp-proxy-wrong-auth")
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        s3_client(wrong.url, CLIENT_KEYS).put_object(
            Bucket=TLS_BUCKET, Key="auth/wrong", Body=b"x")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
    assert refused.value.response["Error"]["Code"] == "BadGateway"
    assert _connects_to(proxy, tls_backend.port), "the CONNECT never reached tinyproxy"
    assert [entry for entry in journal.journal() if "auth/" in entry["path"]] == []
    assert not exists_at_backend(tls_backend_bucket, TLS_BUCKET, "auth/wrong")
    with open(wrong.log_path, encoding="utf-8", errors="replace") as handle:
        log = handle.read()
    # The proxy's refusal is named in osp's log (tinyproxy answers 401 where RFC 9110 says 407) …
    assert re.search(r"the proxy refused the tunnel: 40[17] ", log), log[-2000:]
    assert "not-the-password" not in log  # … never the credentials
    assert PROXY_USER not in log

    right = osps(_tls_bucket(tls_backend), f'{{https_proxy: "http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{proxy.port}"}}',
                 name="osp-proxy-right-auth")
    s3_client(right.url, CLIENT_KEYS).put_object(Bucket=TLS_BUCKET, Key="auth/right", Body=b"authorised")
    assert tls_backend_bucket.get_object(Bucket=TLS_BUCKET, Key="auth/right")["Body"].read() == b"authorised"
    with open(right.log_path, encoding="utf-8", errors="replace") as handle:
        assert PROXY_PASSWORD not in handle.read()


def test_no_proxy_from_the_environment_bypasses_the_proxy(tls_backend, tls_backend_bucket, proxies, osps):
    proxy = proxies([tls_backend.port])
    osp = osps(_tls_bucket(tls_backend), "{verify: true}",
               env={"HTTPS_PROXY": proxy.url, "NO_PROXY": "example.com,127.0.0.1"})
    s3_client(osp.url, CLIENT_KEYS).put_object(Bucket=TLS_BUCKET, Key="direct/obj", Body=b"direct")
    assert tls_backend_bucket.get_object(Bucket=TLS_BUCKET, Key="direct/obj")["Body"].read() == b"direct"
    assert proxy.requests() == []

    # Control: the same environment without NO_PROXY does go through the proxy.
    proxied = osps(_tls_bucket(tls_backend), "{verify: true}", env={"HTTPS_PROXY": proxy.url})
    s3_client(proxied.url, CLIENT_KEYS).put_object(Bucket=TLS_BUCKET, Key="direct/control", Body=b"proxied")
    assert _connects_to(proxy, tls_backend.port)


def test_plain_backend_through_the_proxy_in_absolute_form(backend, backend_s3, journal, proxies, osps):
    proxy = proxies([])
    osp = osps(_plain_bucket(backend), "{}", env={"http_proxy": proxy.url})
    client = s3_client(osp.url, CLIENT_KEYS)
    key = "absolute/a b+c(1).txt"
    client.put_object(Bucket=PLAIN_BUCKET, Key=key, Body=b"absolute-form")
    assert client.get_object(Bucket=PLAIN_BUCKET, Key=key)["Body"].read() == b"absolute-form"
    listed = client.list_objects_v2(Bucket=PLAIN_BUCKET, Prefix="absolute/", Delimiter="/")
    assert [item["Key"] for item in listed["Contents"]] == [key]

    lines = proxy.requests()
    origin = f"http://127.0.0.1:{backend.port}/{REAL_BUCKET}/absolute/a%20b%2Bc%281%29.txt"
    assert f"PUT {origin} HTTP/1.1" in lines, lines
    assert f"GET {origin} HTTP/1.1" in lines, lines
    assert any(line.startswith(f"GET http://127.0.0.1:{backend.port}/{REAL_BUCKET}?") for line in lines), lines
    # The backend verified osp's SigV4 signature (made over the origin path) on every proxied request.
    proxied = [entry for entry in journal.journal() if REAL_BUCKET in entry["path"]]
    assert len(proxied) == 3
    assert [entry["verdict"] for entry in proxied] == ["accepted"] * 3, proxied
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"absolute-form"


def test_http_callouts_go_through_the_proxy_from_the_environment(backend, backend_s3, journal, workdir, proxies, osps):
    directory = os.path.join(workdir, "proxied-callouts")
    os.makedirs(directory, exist_ok=True)
    callouts = CalloutServer(directory, {"keys": {CAROL_KEYS[0]: {"secret_key": CAROL_KEYS[1], "principal": "carol"}}})
    try:
        proxy = proxies([])
        secrets = f'secrets: {{backend: http, http: {{url: "http://127.0.0.1:{callouts.port}/secret", timeout_ms: 5000}}}}\n'
        osp = osps(_plain_bucket(backend), "{}", env={"HTTP_PROXY": proxy.url}, extra=secrets)
        s3_client(osp.url, CAROL_KEYS).put_object(Bucket=PLAIN_BUCKET, Key="callout/obj", Body=b"via secret service")
        assert stored_bytes(backend_s3, REAL_BUCKET, "callout/obj") == b"via secret service"
        lines = proxy.requests()
        # libcurl sent the secret lookup to the proxy in absolute-form, like osp's own backend requests.
        assert any(line.startswith(f"GET http://127.0.0.1:{callouts.port}/secret?") for line in lines), lines
        assert any(line.startswith(f"PUT http://127.0.0.1:{backend.port}/{REAL_BUCKET}/callout/obj ") for line in lines), lines
    finally:
        callouts.stop()


class NginxTLSFront:
    """nginx terminating TLS (with the TLS test backend's certificate) in front of the plain verifying
    backend: unlike werkzeug it keeps client connections alive, so tunnel reuse can be observed."""

    def __init__(self, workdir: str, certificate_dir: str, backend_port: int):
        self.port = processes.free_port()
        self.prefix = os.path.join(workdir, f"nginx-{uuid.uuid4().hex[:8]}")
        os.makedirs(self.prefix)
        self.access_log = os.path.join(self.prefix, "access.log")
        temp = " ".join(f"{kind}_temp_path {os.path.join(self.prefix, kind)};"
                        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        config = f"""
daemon off;
master_process off;
worker_processes 1;
pid {self.prefix}/nginx.pid;
error_log {self.prefix}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log {self.access_log};
  {temp}
  keepalive_timeout 60;
  client_max_body_size 0;
  server {{
    listen 127.0.0.1:{self.port} ssl;
    ssl_certificate {certificate_dir}/cert.pem;
    ssl_certificate_key {certificate_dir}/key.pem;
    location / {{
      proxy_pass http://127.0.0.1:{backend_port};
      proxy_set_header Host $http_host;
      proxy_request_buffering off;
      proxy_buffering off;
    }}
  }}
}}
"""
        config_path = os.path.join(self.prefix, "nginx.conf")
        with open(config_path, "w", encoding="utf-8") as handle:
            handle.write(config)
        self.process = subprocess.Popen(["nginx", "-p", self.prefix, "-c", config_path],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        _remember(self.process)
        try:
            processes.wait_for_port(self.port, self.process, 20, os.path.join(self.prefix, "error.log"))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        processes.stop(self.process)


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed (integration/setup.sh)")
def test_the_tunnel_is_a_pooled_keep_alive_connection(tls_backend, backend, backend_s3, journal, workdir, proxies, osps):
    front = NginxTLSFront(workdir, os.path.dirname(tls_backend.ca_file), backend.port)
    try:
        proxy = proxies([front.port])
        bucket = (f"  {TLS_BUCKET}: {{host: 127.0.0.1, port: {front.port}, tls: true, region: {REGION}, "
                  f'backend_bucket: {REAL_BUCKET}, ca_file: "{tls_backend.ca_file}", '
                  'access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"}\n')
        osp = osps(bucket, f'{{https_proxy: "{proxy.url}"}}')
        client = s3_client(osp.url, CLIENT_KEYS)
        client.put_object(Bucket=TLS_BUCKET, Key="keepalive/obj", Body=b"one tunnel")
        for _ in range(4):
            assert client.get_object(Bucket=TLS_BUCKET, Key="keepalive/obj")["Body"].read() == b"one tunnel"
        # Five requests, all verified by the backend behind nginx, over one CONNECT tunnel.
        assert [entry["verdict"] for entry in journal.journal() if "keepalive/" in entry["path"]] == ["accepted"] * 5
        assert len(_connects_to(proxy, front.port)) == 1, proxy.requests()
        with open(front.access_log, encoding="utf-8") as handle:
            assert len(handle.read().splitlines()) == 5
        assert stored_bytes(backend_s3, REAL_BUCKET, "keepalive/obj") == b"one tunnel"
    finally:
        front.stop()


def test_verify_false_is_a_loud_start_up_warning(tls_backend, osps):
    unverified = osps(_tls_bucket(tls_backend), "{verify: false}", name="osp-unverified")
    verified = osps(_tls_bucket(tls_backend), "{verify: true}", name="osp-verified")
    deadline = time.monotonic() + 10
    text = ""
    while time.monotonic() < deadline and "bucket route" not in text:
        with open(unverified.log_path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        time.sleep(0.1)
    assert re.search(r"warning .*upstream\.verify is false: backend TLS certificates and host names are NOT verified", text)
    with open(verified.log_path, encoding="utf-8", errors="replace") as handle:
        assert "upstream.verify is false" not in handle.read()

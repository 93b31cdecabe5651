"""The HTTPS front (`server.https_port`, `server.tls`): real clients over TLS to osp, mutual TLS with a
client certificate bound to the request's key, and certificates reloaded on SIGHUP.

Every certificate here is made by the test, in its own temporary directory, with the `cryptography`
package: a test CA, osp's server certificate (SAN 127.0.0.1 and localhost), client certificates for
alice and bob, and a second CA that osp does not trust. Objects are checked at the backend.

Two osp processes serve most tests:
- `osp_tls`: plain HTTP and HTTPS side by side, client certificates optional (a presented one must
  verify), and an OPA-compatible recorder as policy backend, so the tests see what policy is told
  (`SecureTransport`, `TLSClientPrincipal`);
- `osp_mtls`: HTTPS only (`http_port: off`), client certificates required.
The SIGHUP tests start their own osp, whose certificate files they replace.
"""
from __future__ import annotations

import datetime
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.exceptions
import pytest

from conftest import REAL_BUCKET, REGION, _osp_env, _remember
from osptest import processes
from osptest.clients import CLIENT_KEYS, AwsCli, botocore_signed, error_code, s3_client, status_of
from osptest.s3checks import exists_at_backend, stored_bytes

x509 = pytest.importorskip("cryptography.x509", reason="the test CA is made with the cryptography package")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

BOB_KEYS = ("AKIDBOB0001", "bob-secret-0001")
MISMATCH = "The client certificate does not match the access key's principal."
#: How botocore reports a connection refused at (or right after) the TLS handshake.
TRANSPORT_FAILURES = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)


# ---------------------------------------------------------------------------------------------
# A test PKI


@dataclass
class Issued:
    cert: str
    key: str
    serial: int

    @property
    def pair(self) -> tuple[str, str]:
        return (self.cert, self.key)


class TestCA:
    """A CA whose certificate and issued leaves are PEM files in `directory`."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: str, name: str) -> None:
        self.directory = directory
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.path = os.path.join(directory, f"{name}.pem")
        _write_atomically(self.path, self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, common_name: str, serial: int, server: bool = False) -> Issued:
        """`name.pem` / `name.key` (replaced atomically if they exist)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        )
        if server:
            import ipaddress
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        cert_path = os.path.join(self.directory, f"{name}.pem")
        key_path = os.path.join(self.directory, f"{name}.key")
        _write_atomically(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
        _write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        return Issued(cert_path, key_path, serial)


def _write_atomically(path: str, data: bytes) -> None:
    temporary = f"{path}.tmp"
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)


@dataclass
class PKI:
    ca: TestCA
    server: Issued
    alice: Issued
    bob: Issued
    #: alice, but issued by a CA osp does not trust
    rogue_alice: Issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> PKI:
    directory = str(tmp_path_factory.mktemp("tls-pki"))
    ca = TestCA(directory, "osp-test-ca")
    rogue = TestCA(directory, "rogue-ca")
    return PKI(ca=ca, server=ca.issue("server", "localhost", 1001, server=True),
               alice=ca.issue("alice", "alice", 2001), bob=ca.issue("bob", "bob", 2002),
               rogue_alice=rogue.issue("rogue-alice", "alice", 3001))


# ---------------------------------------------------------------------------------------------
# What policy is told: an OPA-compatible endpoint that allows everything and records each input


class PolicyRecorder:
    def __init__(self) -> None:
        self.inputs: list[dict] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                recorder.inputs.append(json.loads(body)["input"])
                answer = b'{"result": true}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def for_key(self, key: str) -> list[dict]:
        return [entry for entry in self.inputs if entry.get("object") == key]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def policy():
    recorder = PolicyRecorder()
    try:
        yield recorder
    finally:
        recorder.stop()


# ---------------------------------------------------------------------------------------------
# osp over TLS


@dataclass
class TLSOsp:
    server: processes.Osp
    https_port: int
    http_port: int | None

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def _config(backend_port: int, http_port: int | None, https_port: int, tls: str, authorization: str = "") -> str:
    keys = 'access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"'
    return f"""
server:
  bind: 127.0.0.1
  http_port: {http_port if http_port else "off"}
  https_port: {https_port}
  threads: 2
  tls: {tls}
buckets:
  "*": {{host: 127.0.0.1, port: {backend_port}, tls: false, region: {REGION}, addressing_style: path, {keys}}}
keystore:
  - {{access_key: "${{CLIENT_ACCESS_KEY}}", secret_key: "${{CLIENT_SECRET_KEY}}", principal: alice}}
  - {{access_key: {BOB_KEYS[0]}, secret_key: {BOB_KEYS[1]}, principal: bob}}
{authorization}
"""


def _start(config_text: str, workdir: str, name: str, https_port: int, http_port: int | None) -> TLSOsp:
    binary = processes.osp_binary()
    if not os.access(binary, os.X_OK):
        pytest.skip(f"osp binary not found at {binary} (run `swift build` in the repo or set OSP_BIN)")
    # start_osp waits for the first port; the HTTPS listener is bound after the plain one.
    server = processes.start_osp(config_text, http_port or https_port, workdir, _osp_env(), name)
    _remember(server.process)
    try:
        processes.wait_for_port(https_port, server.process, 30, server.log_path)
    except BaseException:
        processes.stop(server.process)
        raise
    return TLSOsp(server, https_port, http_port)


@pytest.fixture(scope="module")
def osp_tls(backend, pki, policy, workdir):
    """Plain HTTP and HTTPS; client certificates optional; the recorder as policy (no caching)."""
    http_port, https_port = processes.free_port(), processes.free_port()
    tls = (f"{{cert_file: '{pki.server.cert}', key_file: '{pki.server.key}', "
           f"client_ca_file: '{pki.ca.path}', client_auth: optional}}")
    authorization = (f"authorization:\n  backend: opa\n"
                     f"  opa: {{url: 'http://127.0.0.1:{policy.port}/v1/data/osp/allow', timeout_ms: 5000}}\n"
                     f"  cache: {{allow_ttl_seconds: 0, deny_ttl_seconds: 0}}\n")
    server = _start(_config(backend.port, http_port, https_port, tls, authorization), workdir, "osp-tls",
                    https_port, http_port)
    try:
        yield server
    finally:
        processes.stop(server.server.process)


@pytest.fixture(scope="module")
def osp_mtls(backend, pki, workdir):
    """HTTPS only; a client certificate from the test CA is required; its CN is the principal."""
    https_port = processes.free_port()
    tls = (f"{{cert_file: '{pki.server.cert}', key_file: '{pki.server.key}', "
           f"client_ca_file: '{pki.ca.path}', client_auth: require, principal_from: cn}}")
    server = _start(_config(backend.port, None, https_port, tls), workdir, "osp-mtls", https_port, None)
    try:
        yield server
    finally:
        processes.stop(server.server.process)


def _refused_at_handshake(port: int, ca_file: str, client: Issued | None) -> str:
    """Connects with (or without) a client certificate and sends a request; returns why no HTTP
    answer came. Fails the test if one did. (With TLS 1.3 a client learns that its certificate was
    refused only when it reads, after its own side of the handshake is done.)"""
    context = ssl.create_default_context(cafile=ca_file)
    if client:
        context.load_cert_chain(*client.pair)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                answer = tls.recv(4096)
        except (ssl.SSLError, ConnectionError) as error:
            return f"{type(error).__name__}: {error}"
    assert answer == b"", f"osp answered a connection it should have refused: {answer[:200]!r}"
    return "closed without an answer"


def _peer_serial(sock: ssl.SSLSocket) -> int:
    return x509.load_der_x509_certificate(sock.getpeercert(binary_form=True)).serial_number


def _new_connection_serial(port: int, ca_file: str) -> int:
    context = ssl.create_default_context(cafile=ca_file)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return _peer_serial(tls)


def _signed_list(connection: http.client.HTTPSConnection, port: int, prefix: str) -> int:
    """A SigV4-signed ListObjectsV2 on an open keep-alive connection; the status."""
    target, headers = botocore_signed("GET", f"https://127.0.0.1:{port}/{REAL_BUCKET}", CLIENT_KEYS,
                                      params={"list-type": "2", "prefix": prefix})
    connection.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
    for name, value in headers:
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    response.read()
    return response.status


# ---------------------------------------------------------------------------------------------
# HTTPS with real clients


def test_boto3_over_https_round_trips_and_policy_sees_secure_transport(osp_tls, pki, policy, backend_s3, prefix):
    client = s3_client(osp_tls.https_url, CLIENT_KEYS, verify=pki.ca.path)
    key = f"{prefix}boto3.bin"
    body = os.urandom(300_000)  # large enough for botocore's aws-chunked upload over https
    client.put_object(Bucket=REAL_BUCKET, Key=key, Body=body)
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == body
    assert client.get_object(Bucket=REAL_BUCKET, Key=key)["Body"].read() == body
    listed = client.list_objects_v2(Bucket=REAL_BUCKET, Prefix=prefix)
    assert [entry["Key"] for entry in listed["Contents"]] == [key]

    seen = policy.for_key(key)
    assert seen and all(entry["conditions"]["SecureTransport"] == ["true"] for entry in seen), seen
    assert all("TLSClientPrincipal" not in entry["conditions"] for entry in seen), "no client certificate was sent"

    plain_key = f"{prefix}plain.txt"
    s3_client(osp_tls.http_url, CLIENT_KEYS).put_object(Bucket=REAL_BUCKET, Key=plain_key, Body=b"plain")
    assert [entry["conditions"]["SecureTransport"] for entry in policy.for_key(plain_key)] == [["false"]]


def test_aws_cli_over_https_with_ca_bundle(osp_tls, pki, backend_s3, workdir, prefix, tmp_path):
    cli = AwsCli(osp_tls.https_url, CLIENT_KEYS, workdir, ca_bundle=pki.ca.path)
    source = tmp_path / "upload.bin"
    body = os.urandom(9 * 1024 * 1024)  # above the 8 MB multipart threshold
    source.write_bytes(body)
    cli("s3", "cp", str(source), f"s3://{REAL_BUCKET}/{prefix}cli.bin")
    assert stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}cli.bin") == body
    listing = cli("s3", "ls", f"s3://{REAL_BUCKET}/{prefix}").stdout
    assert "cli.bin" in listing and str(len(body)) in listing
    target = tmp_path / "download.bin"
    cli("s3", "cp", f"s3://{REAL_BUCKET}/{prefix}cli.bin", str(target))
    assert target.read_bytes() == body


def test_https_certificate_is_verified_by_clients(osp_tls, prefix):
    """Clients that do not trust the test CA refuse osp's certificate: a real chain is served."""
    client = s3_client(osp_tls.https_url, CLIENT_KEYS)  # system roots only
    with pytest.raises(botocore.exceptions.SSLError):
        client.list_objects_v2(Bucket=REAL_BUCKET, Prefix=prefix)


# ---------------------------------------------------------------------------------------------
# Mutual TLS


def test_mtls_client_certificate_of_the_keys_principal_is_accepted(osp_mtls, pki, backend_s3, prefix):
    client = s3_client(osp_mtls.https_url, CLIENT_KEYS, verify=pki.ca.path, client_cert=pki.alice.pair)
    client.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}alice.txt", Body=b"from alice")
    assert stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}alice.txt") == b"from alice"
    assert client.get_object(Bucket=REAL_BUCKET, Key=f"{prefix}alice.txt")["Body"].read() == b"from alice"
    bob = s3_client(osp_mtls.https_url, BOB_KEYS, verify=pki.ca.path, client_cert=pki.bob.pair)
    assert [entry["Key"] for entry in bob.list_objects_v2(Bucket=REAL_BUCKET, Prefix=prefix)["Contents"]] \
        == [f"{prefix}alice.txt"]


def test_mtls_without_a_client_certificate_is_refused_at_the_handshake(osp_mtls, pki, journal):
    reason = _refused_at_handshake(osp_mtls.https_port, pki.ca.path, None)
    assert reason
    client = s3_client(osp_mtls.https_url, CLIENT_KEYS, verify=pki.ca.path)
    with pytest.raises(TRANSPORT_FAILURES):
        client.list_objects_v2(Bucket=REAL_BUCKET)
    assert journal.journal() == [], "nothing reaches the backend"


def test_mtls_certificate_from_an_unknown_ca_is_refused(osp_mtls, osp_tls, pki, journal, prefix):
    # Required or optional, a certificate that is presented must chain to client_ca_file.
    for server in (osp_mtls, osp_tls):
        assert _refused_at_handshake(server.https_port, pki.ca.path, pki.rogue_alice)
        client = s3_client(server.https_url, CLIENT_KEYS, verify=pki.ca.path, client_cert=pki.rogue_alice.pair)
        with pytest.raises(TRANSPORT_FAILURES):
            client.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}rogue.txt", Body=b"x")
    assert journal.journal() == []


def test_mtls_certificate_of_another_principal_is_refused_with_access_denied(osp_mtls, osp_tls, pki, journal,
                                                                            backend_s3, prefix):
    for server in (osp_mtls, osp_tls):
        client = s3_client(server.https_url, CLIENT_KEYS, verify=pki.ca.path, client_cert=pki.bob.pair)
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            client.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}stolen.txt", Body=b"with alice's keys")
        assert (status_of(refused.value), error_code(refused.value)) == (403, "AccessDenied")
        assert refused.value.response["Error"]["Message"] == MISMATCH
    assert journal.requests_for(f"{prefix}stolen.txt") == [], "nothing was forwarded"
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}stolen.txt")


def test_optional_mtls_tells_policy_the_certificate_principal(osp_tls, pki, policy, backend_s3, prefix):
    client = s3_client(osp_tls.https_url, CLIENT_KEYS, verify=pki.ca.path, client_cert=pki.alice.pair)
    key = f"{prefix}with-cert.txt"
    client.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"bound")
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"bound"
    seen = policy.for_key(key)
    assert [entry["conditions"].get("TLSClientPrincipal") for entry in seen] == [["alice"]]
    assert seen[0]["account"] == "alice" and seen[0]["conditions"]["SecureTransport"] == ["true"]


# ---------------------------------------------------------------------------------------------
# SIGHUP: renewed certificates for new connections, open ones untouched


@pytest.fixture
def reloadable_osp(backend, workdir, tmp_path):
    """HTTPS only, no client certificates, whose certificate files the test replaces."""
    ca = TestCA(str(tmp_path), "reload-ca")
    server_cert = ca.issue("server", "localhost", 5001, server=True)
    https_port = processes.free_port()
    tls = f"{{cert_file: '{server_cert.cert}', key_file: '{server_cert.key}'}}"
    server = _start(_config(backend.port, None, https_port, tls), workdir, f"osp-reload-{tmp_path.name}",
                    https_port, None)
    try:
        yield server, ca
    finally:
        processes.stop(server.server.process)


def _wait_for(condition, what: str, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _log(server: TLSOsp) -> str:
    with open(server.server.log_path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


def test_sighup_serves_a_renewed_certificate_and_keeps_open_connections(reloadable_osp, prefix):
    server, ca = reloadable_osp
    port = server.https_port
    context = ssl.create_default_context(cafile=ca.path)
    kept = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=30)
    try:
        assert _signed_list(kept, port, prefix) == 200
        open_socket = kept.sock
        assert _peer_serial(open_socket) == 5001

        ca.issue("server", "localhost", 5002, server=True)
        server.server.process.send_signal(signal.SIGHUP)
        _wait_for(lambda: _new_connection_serial(port, ca.path) == 5002, "new connections to get serial 5002")

        # The connection opened before the reload is still the same TLS session, and still serves.
        assert _signed_list(kept, port, prefix) == 200
        assert kept.sock is open_socket
        assert _peer_serial(kept.sock) == 5001
        assert server.server.process.poll() is None
    finally:
        kept.close()
    assert "HTTPS certificate reloaded" in _log(server)


def test_sighup_with_a_broken_certificate_keeps_the_last_good_one(reloadable_osp, prefix):
    server, ca = reloadable_osp
    port = server.https_port
    ca.issue("server", "localhost", 5003, server=True)
    server.server.process.send_signal(signal.SIGHUP)
    _wait_for(lambda: _new_connection_serial(port, ca.path) == 5003, "the good renewal")

    cert_file = os.path.join(ca.directory, "server.pem")
    _write_atomically(cert_file, b"-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    server.server.process.send_signal(signal.SIGHUP)
    _wait_for(lambda: "HTTPS certificate not reloaded" in _log(server), "the failed reload to be logged")

    assert server.server.process.poll() is None, "osp keeps running"
    assert _new_connection_serial(port, ca.path) == 5003
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=ssl.create_default_context(cafile=ca.path),
                                             timeout=30)
    try:
        assert _signed_list(connection, port, prefix) == 200
    finally:
        connection.close()
    log = _log(server)
    assert "server.tls.cert_file" in log
    assert "PRIVATE KEY" not in log


def test_check_config_names_the_tls_key_of_a_bad_certificate(pki, tmp_path):
    binary = processes.osp_binary()
    if not os.access(binary, os.X_OK):
        pytest.skip(f"osp binary not found at {binary}")
    broken = tmp_path / "broken.pem"
    broken.write_bytes(b"-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    good = (f"{{cert_file: '{pki.server.cert}', key_file: '{pki.server.key}', "
            f"client_ca_file: '{pki.ca.path}'}}")
    cases = [
        (good, 0, "config OK"),
        (good.replace(pki.server.cert, str(broken)), 2, "server.tls.cert_file: not a PEM certificate"),
        (good.replace(pki.server.key, pki.alice.key), 2, "server.tls.key_file: cannot serve cert_file with this key"),
        (good.replace(pki.ca.path, str(tmp_path / "absent.pem")), 2, "server.tls.client_ca_file: no such file"),
    ]
    for tls, status, expected in cases:
        config = tmp_path / "osp.yaml"
        config.write_text(_config(9, None, 6443, tls))
        result = subprocess.run([binary, "check-config", str(config)], capture_output=True, text=True, timeout=60,
                                env={**os.environ, **_osp_env()})
        assert result.returncode == status, result
        assert expected in result.stdout + result.stderr
        assert "PRIVATE KEY" not in result.stdout + result.stderr

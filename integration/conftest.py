"""Session fixtures: the verifying S3 backend, osp in front of it, and clients for both.

Topology (all on 127.0.0.1, free ports picked at start):

    boto3 / aws cli / raw signed HTTP ──▶ osp (client keys) ──▶ s3backend (backend keys) = verifier + moto

The IBM path has its own pair: `iam_server` (IAM token endpoint, api key IAM_API_KEY) and
`bearer_backend` (an s3backend that takes `Authorization: Bearer` tokens the IAM server says are current,
and SigV4 with the backend keys too), holding IBM_BUCKET.

Objects are always checked by reading them straight from the backend, so a gateway that stores
aws-chunked framing or re-encodes a key cannot pass by reading its own mistake back.
"""
from __future__ import annotations

import atexit
import os
import re
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from osptest import processes  # noqa: E402
from osptest.clients import (  # noqa: E402
    BACKEND_KEYS,
    CLIENT_KEYS,
    IAM_API_KEY,
    REGION,
    AwsCli,
    BackendAdmin,
    s3_client,
)
from osptest.iam import IamServer, start_iam_server  # noqa: E402

ALIAS_BUCKET = "proxy-bucket01"
REAL_BUCKET = "real-bucket01"
OPEN_BUCKET = "open-bucket"
VIRTUAL_HOST_DOMAIN = "s3.local"
# A route whose backend is addressed virtual-host style (`real-bucket01.localhost`).
VHOST_BACKEND_BUCKET = "vhost-bucket01"
SECOND_BACKEND_KEYS = ("BACKENDAKID0002", "backend-secret-0002")
# The bucket on `bearer_backend` (IBM path: osp exchanges IAM_API_KEY for bearer tokens to reach it).
IBM_BUCKET = "ibm-bucket01"

_started: list = []


@atexit.register
def _stop_everything() -> None:  # belt and braces: fixtures stop these too
    for process in _started:
        processes.stop(process)


def _remember(process):
    _started.append(process)
    return process


def _running(server):
    """Yields `server` (a started process wrapper with `.process`) for a fixture's lifetime and
    always stops it; remembered too, for the session's last-resort cleanup."""
    _remember(server.process)
    try:
        yield server
    finally:
        processes.stop(server.process)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("osp-integration"))


def _start_backend(workdir: str, name: str, tls: bool = False, bearer_introspect: str | None = None):
    backend = processes.start_backend(
        {BACKEND_KEYS[0]: BACKEND_KEYS[1], SECOND_BACKEND_KEYS[0]: SECOND_BACKEND_KEYS[1]}, workdir, name, tls,
        bearer_introspect=bearer_introspect)
    _remember(backend.process)
    return backend


@pytest.fixture(scope="session")
def backend(workdir):
    """The verifying backend, with the buckets osp's config points at."""
    backend = _start_backend(workdir, "backend")
    try:
        client = s3_client(backend.url, BACKEND_KEYS)
        for bucket in (REAL_BUCKET, OPEN_BUCKET):
            client.create_bucket(Bucket=bucket)
        yield backend
    finally:
        processes.stop(backend.process)


@pytest.fixture(scope="session")
def tls_backend(workdir):
    """The same backend over https (self-signed), where botocore uses its aws-chunked trailer default."""
    backend = _start_backend(workdir, "tls-backend", tls=True)
    try:
        yield backend
    finally:
        processes.stop(backend.process)


@pytest.fixture(scope="session")
def iam_server(workdir) -> IamServer:
    """The local IBM IAM token endpoint, knowing IAM_API_KEY: `.url`, `.token_url`, `.introspect_url`,
    `.stats()`, `.configure(expires_in=, delay_ms=, fail_status=)`, `.reset()`, `.exchange(key)`,
    `.introspect(token)` (see osptest/iam.py). Shared by the session: call `.reset()` first in a test
    that counts exchanges or changes the configuration (it also makes every issued token inactive)."""
    yield from _running(start_iam_server([IAM_API_KEY], workdir, "iam"))


@pytest.fixture(scope="session")
def bearer_backend(iam_server, workdir):
    """A second verifying backend that also accepts `Authorization: Bearer <token>` while `iam_server`
    says the token is current (and SigV4 with BACKEND_KEYS, as `backend`), holding IBM_BUCKET.
    A `processes.Backend`: `.url`, `.port`, `.journal_path`; `BackendAdmin(bearer_backend.url)` reads
    its journal, where bearer requests have `"auth": "bearer"` and their `"api_key_id"`."""
    backend = _start_backend(workdir, "bearer-backend", bearer_introspect=iam_server.introspect_url)
    try:
        s3_client(backend.url, BACKEND_KEYS).create_bucket(Bucket=IBM_BUCKET)
        yield backend
    finally:
        processes.stop(backend.process)


@pytest.fixture(scope="session")
def ibm_backend_s3(bearer_backend):
    """boto3 straight to the bearer backend with its SigV4 keys: reads what osp stored there."""
    return s3_client(bearer_backend.url, BACKEND_KEYS)


@pytest.fixture
def bearer_journal(bearer_backend) -> BackendAdmin:
    """The bearer backend's journal, emptied at the start of the test."""
    admin = BackendAdmin(bearer_backend.url)
    admin.reset()
    return admin


@pytest.fixture(scope="session")
def backend_admin(backend) -> BackendAdmin:
    return BackendAdmin(backend.url)


@pytest.fixture
def journal(backend_admin) -> BackendAdmin:
    """The backend journal, emptied at the start of the test."""
    backend_admin.reset()
    return backend_admin


@pytest.fixture(scope="session")
def backend_client(backend):
    """`backend_client(**config)`: boto3 straight to the backend with the backend's keys."""

    def make(**config):
        return s3_client(backend.url, BACKEND_KEYS, **config)

    return make


@pytest.fixture(scope="session")
def backend_s3(backend_client):
    return backend_client()


def _osp_config(http_port: int, backend_port: int, with_wildcard: bool = True, server_options: str = "") -> str:
    """`server_options`: more `server:` keys, e.g. `"dot_segment_keys: literal"`."""
    backend_keys = 'access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"'
    extra = f", {server_options}" if server_options else ""
    lines = [
        f"server: {{bind: 127.0.0.1, http_port: {http_port}, threads: 2, "
        f"virtual_host_domains: [{VIRTUAL_HOST_DOMAIN}]{extra}}}",
        "upstream: {verify: true}",
        "buckets:",
        f"  {ALIAS_BUCKET}: {{host: 127.0.0.1, port: {backend_port}, tls: false, region: {REGION}, "
        f"addressing_style: path, backend_bucket: {REAL_BUCKET}, {backend_keys}}}",
        f"  {VHOST_BACKEND_BUCKET}: {{host: localhost, port: {backend_port}, tls: false, region: {REGION}, "
        f"addressing_style: virtual, backend_bucket: {REAL_BUCKET}, {backend_keys}}}",
    ]
    if with_wildcard:
        lines.append(f'  "*": {{host: 127.0.0.1, port: {backend_port}, tls: false, region: {REGION}, '
                     f"addressing_style: path, {backend_keys}}}")
    lines += [
        "keystore:",
        '  - {access_key: "${CLIENT_ACCESS_KEY}", secret_key: "${CLIENT_SECRET_KEY}", principal: alice}',
    ]
    return "\n".join(lines) + "\n"


def policy_osp_config(port: int, backend_port: int, authorization: str, more_keys: str = "") -> str:
    """A dedicated osp with the alias bucket, alice's key (plus `more_keys` keystore lines) and the
    given `authorization:` section body (indented two spaces)."""
    keys = 'access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"'
    return f"""
server: {{bind: 127.0.0.1, http_port: {port}, threads: 2}}
buckets:
  {ALIAS_BUCKET}: {{host: 127.0.0.1, port: {backend_port}, region: {REGION}, backend_bucket: {REAL_BUCKET}, {keys}}}
keystore:
  - {{access_key: "${{CLIENT_ACCESS_KEY}}", secret_key: "${{CLIENT_SECRET_KEY}}", principal: alice}}
{more_keys}authorization:
{authorization}"""


def start_ibm_osp(bearer_backend, iam_server, workdir: str, name: str):
    """An osp with IBM_BUCKET on `bearer_backend`, reached with IAM_API_KEY through `iam_server`."""
    port = processes.free_port()
    config = f"""
server: {{bind: 127.0.0.1, http_port: {port}, threads: 2}}
buckets:
  {IBM_BUCKET}: {{host: 127.0.0.1, port: {bearer_backend.port}, region: {REGION},
                 api_key: "${{IBM_API_KEY}}", iam_endpoint: "{iam_server.url}"}}
keystore:
  - {{access_key: "${{CLIENT_ACCESS_KEY}}", secret_key: "${{CLIENT_SECRET_KEY}}", principal: alice}}
"""
    server = processes.start_osp(config, port, workdir, {**_osp_env(), "IBM_API_KEY": IAM_API_KEY}, name)
    _remember(server.process)
    return server


def _osp_env() -> dict[str, str]:
    return {
        "BACKEND_ACCESS_KEY": BACKEND_KEYS[0],
        "BACKEND_SECRET_KEY": BACKEND_KEYS[1],
        "CLIENT_ACCESS_KEY": CLIENT_KEYS[0],
        "CLIENT_SECRET_KEY": CLIENT_KEYS[1],
    }


def _start_osp(backend, workdir: str, name: str, with_wildcard: bool, server_options: str = ""):
    binary = processes.osp_binary()
    if not os.access(binary, os.X_OK):
        pytest.skip(f"osp binary not found at {binary} (run `swift build` in the repo or set OSP_BIN)")
    port = processes.free_port()
    config = _osp_config(port, backend.port, with_wildcard, server_options)
    return processes.start_osp(config, port, workdir, _osp_env(), name)


def _serve_osp(backend, workdir: str, name: str, with_wildcard: bool, server_options: str = ""):
    """Runs one osp for the fixture's lifetime and always stops it."""
    yield from _running(_start_osp(backend, workdir, name, with_wildcard, server_options))


@pytest.fixture(scope="session")
def osp(backend, workdir):
    """osp serving proxy-bucket01 (→ real-bucket01) and `*` (same name) from the verifying backend."""
    yield from _serve_osp(backend, workdir, "osp", with_wildcard=True)


@pytest.fixture(scope="session")
def osp_strict(backend, workdir):
    """A second osp whose config has no `*` route: only proxy-bucket01 exists for its clients."""
    yield from _serve_osp(backend, workdir, "osp-strict", with_wildcard=False)


@pytest.fixture(scope="session")
def osp_client(osp):
    """`osp_client(signature_version='s3v4', keys=CLIENT_KEYS, **config)`: boto3 pointed at osp."""

    def make(signature_version: str = "s3v4", keys: tuple[str, str] = CLIENT_KEYS, **config):
        return s3_client(osp.url, keys, signature_version=signature_version, **config)

    return make


@pytest.fixture(scope="session")
def osp_s3(osp_client):
    return osp_client()


@pytest.fixture(scope="session")
def aws_cli(osp, workdir) -> AwsCli:
    """`aws_cli("s3", "ls", ...)`: the aws cli pointed at osp with the client keys."""
    return AwsCli(osp.url, CLIENT_KEYS, workdir)


@pytest.fixture
def prefix(request) -> str:
    """A key prefix unique to this test, so tests never see each other's objects."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name)[:48]
    return f"{name}-{uuid.uuid4().hex[:8]}/"

"""osp talks TLS to backends (NIOSSL) and verifies their certificates by default."""
from __future__ import annotations

import botocore.exceptions
import pytest

from conftest import REGION, _osp_env, _remember
from osptest import processes
from osptest.clients import BACKEND_KEYS, CLIENT_KEYS, s3_client

TLS_BUCKET = "tls-bucket01"


def _config(http_port: int, backend, upstream: str) -> str:
    return (
        f"server: {{bind: 127.0.0.1, http_port: {http_port}, threads: 2}}\n"
        f"upstream: {upstream}\n"
        "buckets:\n"
        f"  {TLS_BUCKET}: {{host: 127.0.0.1, port: {backend.port}, tls: true, region: {REGION}, "
        'access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"}\n'
        "keystore:\n"
        '  - {access_key: "${CLIENT_ACCESS_KEY}", secret_key: "${CLIENT_SECRET_KEY}", principal: alice}\n'
    )


@pytest.fixture(scope="module")
def tls_bucket(tls_backend):
    client = s3_client(tls_backend.url, BACKEND_KEYS, verify=tls_backend.ca_file)
    client.create_bucket(Bucket=TLS_BUCKET)
    return client


def _osp(backend, workdir, name: str, upstream: str):
    port = processes.free_port()
    server = processes.start_osp(_config(port, backend, upstream), port, workdir, _osp_env(), name)
    _remember(server.process)
    return server


@pytest.fixture(scope="module")
def osp_trusting_backend_ca(tls_backend, workdir):
    server = _osp(tls_backend, workdir, "osp-tls-ca", f"{{verify: true, ca_file: {tls_backend.ca_file}}}")
    yield server
    processes.stop(server.process)


@pytest.fixture(scope="module")
def osp_default_trust(tls_backend, workdir):
    server = _osp(tls_backend, workdir, "osp-tls-default", "{verify: true}")
    yield server
    processes.stop(server.process)


def test_tls_backend_with_its_ca_configured_round_trips(osp_trusting_backend_ca, tls_bucket):
    client = s3_client(osp_trusting_backend_ca.url, CLIENT_KEYS)
    body = b"over tls" * 1000
    client.put_object(Bucket=TLS_BUCKET, Key="secure/obj", Body=body)
    assert tls_bucket.get_object(Bucket=TLS_BUCKET, Key="secure/obj")["Body"].read() == body
    assert client.get_object(Bucket=TLS_BUCKET, Key="secure/obj")["Body"].read() == body


def test_untrusted_backend_certificate_is_refused_and_nothing_is_stored(osp_default_trust, tls_bucket):
    client = s3_client(osp_default_trust.url, CLIENT_KEYS)
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        client.put_object(Bucket=TLS_BUCKET, Key="untrusted/obj", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "BadGateway"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
    with pytest.raises(botocore.exceptions.ClientError):
        tls_bucket.head_object(Bucket=TLS_BUCKET, Key="untrusted/obj")

"""Presigned URLs (SigV4 and SigV2) made by boto3 for osp, fetched with plain HTTP clients."""
from __future__ import annotations

import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from conftest import ALIAS_BUCKET, REAL_BUCKET
from osptest.clients import BACKEND_KEYS, CLIENT_KEYS
from osptest.s3checks import assert_s3_error, data, exists_at_backend, stored_bytes
from s3client.http import Response, send

pytestmark = pytest.mark.usefixtures("osp")

SIGNATURES = {"v4": "s3v4", "v2": "s3"}


def fetch(url: str, method: str = "GET", body: bytes = b"", headers: dict[str, str] | None = None) -> Response:
    """Send to a presigned URL with http.client (no headers added beyond Host and Content-Length)."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    all_headers = [("Host", parts.netloc)] + list((headers or {}).items())
    if method in ("PUT", "POST"):
        all_headers.append(("Content-Length", str(len(body))))
    return send(parts.hostname, parts.port, method, target, all_headers, body)


@pytest.mark.parametrize("version", SIGNATURES)
def test_presigned_get_with_urllib(osp_client, backend_s3, prefix, version):
    key = f"{prefix}a+b (c)/ü"
    body = data(5000, version)
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=body)
    url = osp_client(SIGNATURES[version]).generate_presigned_url(
        "get_object", Params={"Bucket": ALIAS_BUCKET, "Key": key}, ExpiresIn=300)
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read() == body


@pytest.mark.parametrize("version", SIGNATURES)
def test_presigned_get_with_response_overrides(osp_client, backend_s3, journal, prefix, version):
    key = f"{prefix}override"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"{}")
    url = osp_client(SIGNATURES[version]).generate_presigned_url("get_object", Params={
        "Bucket": ALIAS_BUCKET, "Key": key, "ResponseContentType": "application/json",
        "ResponseContentDisposition": 'attachment; filename="x y.json"'}, ExpiresIn=300)
    journal.reset()
    response = fetch(url)
    assert (response.status, response.body) == (200, b"{}"), response
    # moto ignores response-* overrides, so check they were forwarded (and the client's auth was not)
    (entry,) = journal.journal()
    assert "response-content-type=application%2Fjson" in entry["query"]
    assert "response-content-disposition=" in entry["query"]
    assert entry["access_key"] == BACKEND_KEYS[0] and CLIENT_KEYS[0] not in entry["query"]


@pytest.mark.parametrize("version", SIGNATURES)
def test_presigned_put_with_http_client(osp_client, backend_s3, prefix, version):
    key = f"{prefix}put me=1"
    body = data(70_000, "put" + version)
    url = osp_client(SIGNATURES[version]).generate_presigned_url(
        "put_object", Params={"Bucket": ALIAS_BUCKET, "Key": key}, ExpiresIn=300)
    response = fetch(url, "PUT", body)
    assert response.status == 200, response
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == body


@pytest.mark.parametrize("version", SIGNATURES)
def test_expired_presigned_urls_are_refused(osp_client, backend_s3, journal, prefix, version):
    key = f"{prefix}soon-gone"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"x")
    client = osp_client(SIGNATURES[version])
    get_url = client.generate_presigned_url("get_object", Params={"Bucket": ALIAS_BUCKET, "Key": key}, ExpiresIn=1)
    put_url = client.generate_presigned_url("put_object", Params={"Bucket": ALIAS_BUCKET, "Key": key + "2"},
                                            ExpiresIn=1)
    time.sleep(2.5)
    journal.reset()
    assert_s3_error(fetch(get_url), 403, "AccessDenied")
    assert_s3_error(fetch(put_url, "PUT", b"late"), 403, "AccessDenied")
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key + "2")


@pytest.mark.parametrize("version", SIGNATURES)
@pytest.mark.parametrize("tamper", ["key", "signature", "expiry"])
def test_tampered_presigned_urls_are_refused(osp_client, backend_s3, journal, prefix, version, tamper):
    key = f"{prefix}guarded"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"x")
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key + "2", Body=b"other")
    url = osp_client(SIGNATURES[version]).generate_presigned_url(
        "get_object", Params={"Bucket": ALIAS_BUCKET, "Key": key}, ExpiresIn=300)
    if tamper == "key":
        url = url.replace("guarded?", "guarded2?")
    elif tamper == "signature":
        marker = "X-Amz-Signature=" if version == "v4" else "Signature="
        at = url.index(marker) + len(marker)
        url = url[:at] + ("0" if url[at] != "0" else "1") + url[at + 1:]
    else:
        marker = "X-Amz-Expires=" if version == "v4" else "Expires="
        at = url.index(marker) + len(marker)
        url = url[:at] + "9" + url[at:]
    journal.reset()
    assert_s3_error(fetch(url), 403, "SignatureDoesNotMatch")
    assert journal.journal() == []


def test_presign_valid_for_more_than_a_week_is_refused(osp, osp_client, journal, prefix):
    url = osp_client().generate_presigned_url("get_object", Params={"Bucket": ALIAS_BUCKET, "Key": f"{prefix}x"},
                                              ExpiresIn=604801)
    assert_s3_error(fetch(url), 400, "AuthorizationQueryParametersError")
    assert journal.journal() == []

"""CORS preflights: what a browser asks before it PUTs to a presigned URL through osp.

A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) never carries credentials.
By default osp refuses it itself (`AccessForbidden`, the backend hears nothing). With
`server.cors_preflight: forward` it goes to the bucket's backend — only its own headers, signed with
the bucket's key — and the bucket's CORS rules (set through osp) answer it. Anything else about the
request stays as strict as ever: a preflight with a body or without an `Origin` is refused by osp,
and the request the browser then sends must be signed like any other.
"""
from __future__ import annotations

import pytest
import requests

from conftest import ALIAS_BUCKET, REAL_BUCKET, _serve_osp
from osptest.clients import BACKEND_KEYS, CLIENT_KEYS, s3_client
from osptest.s3checks import assert_s3_error, stored_bytes
from s3client.http import parse_response, send, send_raw

ALLOWED_ORIGIN = "https://app.example.com"
CORS_RULES = {
    "CORSRules": [{
        "AllowedOrigins": [ALLOWED_ORIGIN],
        "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["content-type", "x-amz-*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 600,
    }]
}


@pytest.fixture(scope="module")
def forwarding_osp(backend, workdir):
    """osp with `cors_preflight: forward`."""
    yield from _serve_osp(backend, workdir, "osp-cors-forward", with_wildcard=True,
                          server_options="cors_preflight: forward")


@pytest.fixture(scope="module")
def cors_configured(forwarding_osp):
    """The alias bucket's CORS rules, set through osp by a signed PutBucketCors (and removed after)."""
    client = s3_client(forwarding_osp.url, CLIENT_KEYS)
    client.put_bucket_cors(Bucket=ALIAS_BUCKET, CORSConfiguration=CORS_RULES)
    try:
        yield
    finally:
        client.delete_bucket_cors(Bucket=ALIAS_BUCKET)


def preflight(server, path: str, origin: str | None = ALLOWED_ORIGIN, method: str | None = "PUT",
              request_headers: str | None = "content-type", extra: list[tuple[str, str]] = ()):
    headers = [("Host", server.host)]
    if origin is not None:
        headers.append(("Origin", origin))
    if method is not None:
        headers.append(("Access-Control-Request-Method", method))
    if request_headers is not None:
        headers.append(("Access-Control-Request-Headers", request_headers))
    headers += list(extra)
    return send("127.0.0.1", server.port, "OPTIONS", path, headers)


def backend_options(journal) -> list[dict]:
    return [entry for entry in journal.journal() if entry["method"] == "OPTIONS"]


def test_preflights_are_refused_by_default_and_the_backend_hears_nothing(osp, journal, prefix):
    response = preflight(osp, f"/{ALIAS_BUCKET}/{prefix}upload.bin")
    assert_s3_error(response, 403, "AccessForbidden")
    assert "access-control-allow-origin" not in response.headers
    assert backend_options(journal) == []


def test_an_allowed_preflight_is_answered_by_the_buckets_cors_rules(forwarding_osp, cors_configured, journal, prefix):
    response = preflight(forwarding_osp, f"/{ALIAS_BUCKET}/{prefix}upload.bin")
    assert response.status == 200, response
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert response.headers["access-control-allow-methods"] == "GET, PUT"
    assert response.headers["access-control-expose-headers"] == "ETag"
    assert response.headers["access-control-max-age"] == "600"
    [seen] = backend_options(journal)
    # The backend got the preflight signed with the bucket's own key, under the real bucket name,
    # and nothing of the client's but the preflight's headers.
    assert (seen["verdict"], seen["auth"], seen["access_key"]) == ("accepted", "header-v4", BACKEND_KEYS[0])
    assert seen["path"] == f"/{REAL_BUCKET}/{prefix}upload.bin"
    assert seen["headers"]["origin"] == ALLOWED_ORIGIN
    assert "user-agent" not in seen["headers"] and "cookie" not in seen["headers"]


def test_a_preflight_the_rules_do_not_allow_gets_the_backends_refusal(forwarding_osp, cors_configured, journal, prefix):
    # (The test backend, moto, judges a preflight by its origin only.)
    refused = preflight(forwarding_osp, f"/{ALIAS_BUCKET}/{prefix}k", origin="https://evil.example")
    # The bucket's rules said no (osp's own refusal would say "not enabled on this endpoint").
    assert (refused.status, refused.error_code) == (403, "AccessForbidden"), refused
    assert b"This CORS request is not allowed" in refused.body, refused
    assert [entry["verdict"] for entry in backend_options(journal)] == ["accepted"]


def test_only_the_preflights_own_headers_reach_the_backend(forwarding_osp, cors_configured, journal, prefix):
    response = preflight(forwarding_osp, f"/{ALIAS_BUCKET}/{prefix}k",
                         extra=[("Cookie", "session=secret"), ("X-Amz-Meta-Planted", "1"), ("User-Agent", "browser")])
    assert response.status == 200, response
    [seen] = backend_options(journal)
    assert set(seen["headers"]) >= {"origin", "access-control-request-method", "access-control-request-headers"}
    assert not {"cookie", "x-amz-meta-planted", "user-agent"} & set(seen["headers"])


@pytest.mark.parametrize("case", ["no origin", "no request method", "two origins", "a body", "chunked body", "no bucket"])
def test_malformed_preflights_are_refused_by_osp(forwarding_osp, journal, prefix, case):
    path = f"/{ALIAS_BUCKET}/{prefix}k"
    if case == "no origin":
        response, status, code = preflight(forwarding_osp, path, origin=None), 400, "BadRequest"
    elif case == "no request method":
        response, status, code = preflight(forwarding_osp, path, method=None), 400, "BadRequest"
    elif case == "two origins":
        response = preflight(forwarding_osp, path, extra=[("Origin", "https://second.example")])
        status, code = 400, "BadRequest"
    elif case == "a body":
        raw = (f"OPTIONS {path} HTTP/1.1\r\nHost: {forwarding_osp.host}\r\nOrigin: {ALLOWED_ORIGIN}\r\n"
               "Access-Control-Request-Method: PUT\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello").encode()
        response, status, code = parse_response(send_raw("127.0.0.1", forwarding_osp.port, raw)), 400, "InvalidRequest"
    elif case == "chunked body":
        raw = (f"OPTIONS {path} HTTP/1.1\r\nHost: {forwarding_osp.host}\r\nOrigin: {ALLOWED_ORIGIN}\r\n"
               "Access-Control-Request-Method: PUT\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
               "5\r\nhello\r\n0\r\n\r\n").encode()
        response, status, code = parse_response(send_raw("127.0.0.1", forwarding_osp.port, raw)), 400, "InvalidRequest"
    else:
        response, status, code = preflight(forwarding_osp, "/"), 400, "BadRequest"
    assert_s3_error(response, status, code)
    assert backend_options(journal) == []


def test_a_signed_options_request_is_authenticated_not_treated_as_a_preflight(forwarding_osp, journal, prefix):
    """Credentials on an OPTIONS request are checked like any others: a wrong one is refused."""
    response = preflight(forwarding_osp, f"/{ALIAS_BUCKET}/{prefix}k",
                         extra=[("Authorization", "AWS4-HMAC-SHA256 Credential=NOPE/20260101/us-east-1/s3/"
                                 "aws4_request, SignedHeaders=host, Signature=" + "0" * 64)])
    assert response.status == 403 and response.error_code in ("InvalidAccessKeyId", "AccessDenied"), response
    assert backend_options(journal) == []


def test_a_browser_style_presigned_put_after_its_preflight(forwarding_osp, cors_configured, backend_s3, prefix):
    """What a web page does: preflight, then PUT to the presigned URL with its Origin; the response
    carries the CORS headers the bucket's rules give, and the object is stored."""
    key = f"{prefix}from-browser.txt"
    allowed = preflight(forwarding_osp, f"/{ALIAS_BUCKET}/{key}")
    assert allowed.status == 200, allowed
    url = s3_client(forwarding_osp.url, CLIENT_KEYS).generate_presigned_url(
        "put_object", Params={"Bucket": ALIAS_BUCKET, "Key": key}, ExpiresIn=300)
    put = requests.put(url, data=b"uploaded by a page", headers={"Origin": ALLOWED_ORIGIN}, timeout=30)
    assert put.status_code == 200, put.text
    assert put.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"uploaded by a page"
    # The PUT itself is no preflight: without its signature it is refused.
    unsigned = requests.put(url.split("?", 1)[0], data=b"x", headers={"Origin": ALLOWED_ORIGIN}, timeout=30)
    assert unsigned.status_code == 403

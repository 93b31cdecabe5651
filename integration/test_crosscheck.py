"""Cross-check osp's verifier against botocore's signer: hundreds of random awkward requests.

All correctly signed requests must be accepted; the same requests with one signature character
flipped must all be refused with SignatureDoesNotMatch, and never reach the backend.
"""
from __future__ import annotations

import random
from urllib.parse import quote

import pytest

from conftest import ALIAS_BUCKET, REAL_BUCKET
from osptest.clients import CLIENT_KEYS, botocore_signed
from osptest.s3checks import assert_s3_error, stored_bytes
from s3client.http import send

pytestmark = pytest.mark.usefixtures("osp")

ROUNDS = 110  # three requests per round
ALPHABET = list("abcXYZ019-_.~ +%@()=&:,;$!*'/?#[]{}^|`\\\"<>") + ["ü", "日本", "é", "//", "%20", "%2F"]
QUERY_VALUES = ["text/plain", "a b", "a+b", "x=y&z", "ü", "/slash/", "%41", "", "*", "semi;colon"]


def random_key(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 12))).lstrip("/") + "k"


def encoded(key: str) -> str:
    return quote(key, safe="/~")


def requests_for(rng: random.Random, osp, prefix: str):
    """(key, method, url, body, expected) per request: a PUT, a GET with response overrides, a LIST."""
    for _ in range(ROUNDS):
        key = random_key(rng, prefix)
        url = f"{osp.url}/{ALIAS_BUCKET}/{encoded(key)}"
        body = key.encode() + bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
        yield key, "PUT", url, body, body
        params = {"response-content-type": rng.choice(QUERY_VALUES) or "text/plain",
                  "response-cache-control": rng.choice(QUERY_VALUES)}
        yield key, "GET", with_query(url, params), b"", body
        yield key, "LIST", with_query(f"{osp.url}/{ALIAS_BUCKET}", {
            "list-type": "2", "prefix": key[: rng.randint(len(prefix), len(key))],
            "delimiter": rng.choice(["/", "", "@"]), "max-keys": str(rng.randint(1, 5))}), b"", None


def with_query(url: str, params: dict[str, str]) -> str:
    """The query encoded the way botocore's serializer does it (%20 for space, never '+')."""
    return url + "?" + "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params.items())


def _flip(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for name, value in headers:
        if name.lower() == "authorization":
            at = value.index("Signature=") + len("Signature=")
            value = value[:at] + ("0" if value[at] != "0" else "1") + value[at + 1:]
        out.append((name, value))
    return out


def test_botocore_signed_random_requests_are_all_accepted(osp, backend_s3, prefix):
    rng = random.Random(20240601)
    failures, count = [], 0
    for key, method, url, body, expected in requests_for(rng, osp, prefix):
        wire_method = "GET" if method == "LIST" else method
        target, headers = botocore_signed(wire_method, url, CLIENT_KEYS, body=body)
        response = send("127.0.0.1", osp.port, wire_method, target, headers, body)
        count += 1
        if response.status != 200:
            failures.append((method, target, response.status, response.error_code))
        elif method == "PUT" and stored_bytes(backend_s3, REAL_BUCKET, key) != expected:
            failures.append((method, target, "stored bytes differ"))
        elif method == "GET" and response.body != expected:
            failures.append((method, target, "read bytes differ"))
    assert count >= 300
    assert failures == [], f"{len(failures)} of {count} failed, first: {failures[:5]}"


def test_the_same_requests_with_a_flipped_signature_are_all_refused(osp, journal, prefix):
    rng = random.Random(20240601)
    unexpected, count = [], 0
    for _key, method, url, body, _expected in requests_for(rng, osp, prefix):
        wire_method = "GET" if method == "LIST" else method
        target, headers = botocore_signed(wire_method, url, CLIENT_KEYS, body=body)
        response = send("127.0.0.1", osp.port, wire_method, target, _flip(headers), body)
        count += 1
        if (response.status, response.error_code) != (403, "SignatureDoesNotMatch"):
            unexpected.append((method, target, response.status, response.error_code))
    assert count >= 300
    assert unexpected == [], f"{len(unexpected)} of {count} not refused as expected, first: {unexpected[:5]}"
    assert journal.journal() == [], "a request with a bad signature reached the backend"


def test_a_flipped_signature_error_is_well_formed(osp, journal, prefix):
    target, headers = botocore_signed("GET", f"{osp.url}/{ALIAS_BUCKET}/{prefix}x", CLIENT_KEYS)
    assert_s3_error(send("127.0.0.1", osp.port, "GET", target, _flip(headers)), 403, "SignatureDoesNotMatch")

"""The IBM path's two test peers, without osp: the local IAM token endpoint (callouts/iam_server.py)
and the verifying backend in bearer mode (s3backend --bearer-introspect).

osp's IBM tests stand on these: that a token is refused once it expires, that exchanges are counted
(and overlapping ones seen as overlapping), and that a bearer request carrying aws-chunked framing or a
wrong payload hash never reaches storage. If these fail, the osp tests prove nothing.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import IBM_BUCKET, _remember
from osptest import processes
from osptest.clients import BACKEND_KEYS, IAM_API_KEY, error_code, s3_client
from osptest.iam import IamServer
from osptest.s3checks import assert_s3_error, data, exists_at_backend, stored_bytes
from s3client import signer as sig
from s3client.http import Response, send

UNKNOWN_TOKEN = "not-a-token-this-iam-ever-issued"


@pytest.fixture
def iam(iam_server) -> IamServer:
    """The session's IAM server with zeroed counters, no tokens and the default configuration."""
    iam_server.reset()
    yield iam_server
    iam_server.reset()


@pytest.fixture(scope="module")
def sigv4_s3(bearer_backend):
    """boto3 with the backend keys, straight to the bearer backend: reads what was really stored."""
    return s3_client(bearer_backend.url, BACKEND_KEYS)


def token_for(iam: IamServer) -> str:
    answer = iam.exchange(IAM_API_KEY)
    assert answer.status == 200, answer
    return answer.document["access_token"]


def bearer_send(backend, method: str, key: str, token: str, body: bytes = b"",
                headers: dict[str, str] | None = None, query: str = "") -> Response:
    """A request authenticated only by `Authorization: Bearer` (no SigV4), as osp sends to IBM COS."""
    target = f"/{IBM_BUCKET}/{sig.encode_key(key)}" + (f"?{query}" if query else "")
    head = [("Host", f"127.0.0.1:{backend.port}"), ("Authorization", f"Bearer {token}")]
    if body or method in ("PUT", "POST"):
        head.append(("Content-Length", str(len(body))))
    head += list((headers or {}).items())
    return send("127.0.0.1", backend.port, method, target, head, body)


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


# --- the IAM token endpoint ------------------------------------------------------------------------

def test_exchange_issues_a_new_current_token_every_time(iam):
    before = time.time()
    first, second = iam.exchange(IAM_API_KEY), iam.exchange(IAM_API_KEY)
    for answer in (first, second):
        assert answer.status == 200, answer
        document = answer.document
        assert (document["token_type"], document["refresh_token"], document["scope"]) == \
            ("Bearer", "not_supported", "ibm openid")
        assert document["expires_in"] == 3600
        assert int(before) + 3600 <= document["expiration"] <= time.time() + 3600
        assert len(document["access_token"]) >= 32
    assert first.document["access_token"] != second.document["access_token"]
    seen = [iam.introspect(a.document["access_token"]) for a in (first, second)]
    assert all(s["active"] for s in seen)
    assert seen[0]["api_key_id"] == seen[1]["api_key_id"] != IAM_API_KEY
    assert IAM_API_KEY not in json.dumps(seen)
    stats = iam.stats()
    assert (stats["exchanges"], stats["attempts"], stats["active_tokens"]) == (2, 2, 2)


@pytest.mark.parametrize("grant_type", ["urn:ibm:params:oauth:grant-type:password", "", None])
def test_wrong_or_missing_grant_type_is_bxnim0103e(iam, grant_type):
    answer = iam.exchange(IAM_API_KEY, grant_type=grant_type)
    assert (answer.status, answer.document["errorCode"]) == (400, "BXNIM0103E"), answer


def test_unknown_api_key_is_bxnim0415e(iam):
    answer = iam.exchange("iam-apikey-nobody-has")
    assert (answer.status, answer.document["errorCode"]) == (400, "BXNIM0415E"), answer
    assert answer.document["errorMessage"] == "Provided API key could not be found."


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_a_token_request_that_is_not_a_form_is_refused(iam, content_type):
    answer = iam.exchange(IAM_API_KEY, content_type=content_type)
    assert answer.status == 400 and answer.document["errorCode"], answer


def test_refused_requests_count_as_attempts_not_exchanges(iam):
    iam.exchange("iam-apikey-nobody-has")
    iam.exchange(IAM_API_KEY, grant_type=None)
    token_for(iam)
    stats = iam.stats()
    assert (stats["attempts"], stats["exchanges"], stats["active_tokens"]) == (3, 1, 1)


def test_fail_status_answers_every_exchange_with_that_error(iam):
    iam.configure(fail_status=503)
    answer = iam.exchange(IAM_API_KEY)
    assert answer.status == 503 and answer.document["errorCode"], answer
    assert "access_token" not in answer.document
    iam.configure(fail_status=None)
    assert iam.exchange(IAM_API_KEY).status == 200
    assert (iam.stats()["attempts"], iam.stats()["exchanges"]) == (2, 1)


def test_bad_configuration_is_refused_and_changes_nothing(iam):
    before = iam.stats()["config"]
    for bad in ({"expires_in": -1}, {"delay_ms": "slow"}, {"fail_status": 200}):
        answer = iam._call("POST", "/__iam/config", json.dumps(bad).encode())
        assert answer.status == 400, (bad, answer)
    assert iam.stats()["config"] == before


def test_expires_in_is_honoured_by_the_wall_clock(iam):
    iam.configure(expires_in=1)
    issued = time.time()
    answer = iam.exchange(IAM_API_KEY)
    assert answer.document["expires_in"] == 1
    assert int(issued) + 1 <= answer.document["expiration"] <= time.time() + 1
    token = answer.document["access_token"]
    assert iam.introspect(token)["active"]
    deadline = time.monotonic() + 5
    while iam.introspect(token)["active"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not iam.introspect(token)["active"]
    assert time.time() - issued >= 1
    assert iam.stats()["active_tokens"] == 0


def test_reset_forgets_every_token(iam):
    token = token_for(iam)
    iam.reset()
    assert iam.introspect(token) == {"active": False}
    assert iam.stats()["exchanges"] == 0


def test_overlapping_exchanges_are_counted_in_flight(iam):
    iam.configure(delay_ms=200)
    for _ in range(2):  # one after the other: never more than one in flight
        token_for(iam)
    assert iam.stats()["max_in_flight"] == 1

    iam.reset()
    iam.configure(delay_ms=800)
    clients = 4
    start = threading.Barrier(clients)
    tokens: list[str] = []
    errors: list[BaseException] = []

    def exchange():
        try:
            start.wait(timeout=10)
            tokens.append(token_for(iam))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=exchange) for _ in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors and len(tokens) == clients, errors
    assert time.monotonic() - began < clients * 0.8, "the exchanges were answered one after another"
    stats = iam.stats()
    assert (stats["max_in_flight"], stats["exchanges"], stats["in_flight"]) == (clients, clients, 0)
    assert len(set(tokens)) == clients


# --- the bearer backend ----------------------------------------------------------------------------

@pytest.mark.parametrize("payload_hash", ["hex", sig.UNSIGNED, None])
def test_current_token_puts_and_gets(iam, bearer_backend, bearer_journal, sigv4_s3, prefix, payload_hash):
    token = token_for(iam)
    key, body = f"{prefix}obj", data(70_000, "bearer")
    headers = {"x-amz-content-sha256": sha256_hex(body) if payload_hash == "hex" else payload_hash} \
        if payload_hash else {}
    put = bearer_send(bearer_backend, "PUT", key, token, body, headers)
    assert put.status == 200, put
    got = bearer_send(bearer_backend, "GET", key, token)
    assert (got.status, got.body) == (200, body)
    assert stored_bytes(sigv4_s3, IBM_BUCKET, key) == body

    entries = [e for e in bearer_journal.journal() if e["auth"] == "bearer"]
    assert [(e["method"], e["verdict"]) for e in entries] == [("PUT", "accepted"), ("GET", "accepted")]
    assert entries[0]["decoded_length"] == len(body)
    assert {e["api_key_id"] for e in entries} == {iam.introspect(token)["api_key_id"]}
    assert token not in json.dumps(bearer_journal.journal())


def test_bearer_listing_works(iam, bearer_backend, prefix):
    token = token_for(iam)
    assert bearer_send(bearer_backend, "PUT", f"{prefix}listed", token, b"x").status == 200
    listing = send("127.0.0.1", bearer_backend.port, "GET", f"/{IBM_BUCKET}?list-type=2&prefix={prefix}",
                   [("Host", f"127.0.0.1:{bearer_backend.port}"), ("Authorization", f"Bearer {token}")])
    assert listing.status == 200 and f"<Key>{prefix}listed</Key>".encode() in listing.body, listing


def _assert_not_current(response: Response) -> None:
    assert_s3_error(response, 403, "AccessDenied")
    assert b"bearer token is not current" in response.body


@pytest.mark.parametrize("which", ["expired", "unknown", "forgotten by a reset"])
def test_a_token_that_is_not_current_is_refused_and_nothing_is_stored(iam, bearer_backend, bearer_journal,
                                                                      sigv4_s3, prefix, which):
    if which == "expired":
        iam.configure(expires_in=1)
        token = token_for(iam)
        deadline = time.monotonic() + 5
        while iam.introspect(token)["active"] and time.monotonic() < deadline:
            time.sleep(0.1)
    elif which == "unknown":
        token = UNKNOWN_TOKEN
    else:
        token = token_for(iam)
        iam.reset()
    key = f"{prefix}refused"
    _assert_not_current(bearer_send(bearer_backend, "PUT", key, token, b"must not be stored",
                                    {"x-amz-content-sha256": sha256_hex(b"must not be stored")}))
    _assert_not_current(bearer_send(bearer_backend, "GET", key, token))
    assert not exists_at_backend(sigv4_s3, IBM_BUCKET, key)
    entries = bearer_journal.journal()
    assert [(e["method"], e["verdict"], e["status"]) for e in entries if e.get("auth") == "bearer"] \
        == [("PUT", "refused", 403), ("GET", "refused", 403)]
    assert token not in json.dumps(entries)


def test_a_token_works_until_it_expires(iam, bearer_backend, prefix):
    iam.configure(expires_in=2)
    token = token_for(iam)
    assert bearer_send(bearer_backend, "PUT", f"{prefix}early", token, b"in time").status == 200
    deadline = time.monotonic() + 6
    while iam.introspect(token)["active"] and time.monotonic() < deadline:
        time.sleep(0.1)
    _assert_not_current(bearer_send(bearer_backend, "GET", f"{prefix}early", token))
    fresh = token_for(iam)
    assert bearer_send(bearer_backend, "GET", f"{prefix}early", fresh).body == b"in time"


_FRAMED = sig.encode_unsigned_chunks(b"framed payload", 8, ("x-amz-checksum-crc32",
                                                            sig.checksum_b64("crc32", b"framed payload")))
AWS_CHUNKED_CASES = {
    # what an SDK sends over TLS: every sign of framing at once
    "sdk trailer upload": (_FRAMED, {"Content-Encoding": "aws-chunked",
                                     "x-amz-content-sha256": sig.UNSIGNED_TRAILER,
                                     "x-amz-decoded-content-length": "14",
                                     "x-amz-trailer": "x-amz-checksum-crc32"}),
    "streaming payload hash only": (_FRAMED, {"x-amz-content-sha256": sig.UNSIGNED_TRAILER}),
    "content-encoding only": (b"framed payload", {"Content-Encoding": "aws-chunked"}),
    "decoded length only": (b"framed payload", {"x-amz-decoded-content-length": "14"}),
    "framing body without headers": (_FRAMED, {}),
}


@pytest.mark.parametrize("case", list(AWS_CHUNKED_CASES))
def test_aws_chunked_with_a_bearer_token_is_refused(iam, bearer_backend, bearer_journal, sigv4_s3, prefix, case):
    body, headers = AWS_CHUNKED_CASES[case]
    key = f"{prefix}chunked"
    response = bearer_send(bearer_backend, "PUT", key, token_for(iam), body, headers)
    assert_s3_error(response, 400, "InvalidRequest")
    assert not exists_at_backend(sigv4_s3, IBM_BUCKET, key)
    (entry,) = [e for e in bearer_journal.journal() if e["method"] == "PUT"]
    assert (entry["auth"], entry["verdict"]) == ("bearer", "refused")


def test_a_wrong_hex_payload_hash_is_refused(iam, bearer_backend, sigv4_s3, prefix):
    key = f"{prefix}tampered"
    response = bearer_send(bearer_backend, "PUT", key, token_for(iam), b"the body sent",
                           {"x-amz-content-sha256": sha256_hex(b"another body")})
    assert_s3_error(response, 400, "XAmzContentSHA256Mismatch")
    assert not exists_at_backend(sigv4_s3, IBM_BUCKET, key)


def test_a_payload_hash_that_is_no_hash_is_refused(iam, bearer_backend, sigv4_s3, prefix):
    key = f"{prefix}garbled"
    response = bearer_send(bearer_backend, "PUT", key, token_for(iam), b"x", {"x-amz-content-sha256": "abc"})
    assert_s3_error(response, 400, "InvalidArgument")
    assert not exists_at_backend(sigv4_s3, IBM_BUCKET, key)


def test_checksum_headers_are_verified(iam, bearer_backend, bearer_journal, sigv4_s3, prefix):
    token, body = token_for(iam), b"checksummed"
    wrong = bearer_send(bearer_backend, "PUT", f"{prefix}bad", token, body,
                        {"x-amz-checksum-crc32": sig.checksum_b64("crc32", b"something else")})
    assert_s3_error(wrong, 400, "BadDigest")
    assert not exists_at_backend(sigv4_s3, IBM_BUCKET, f"{prefix}bad")
    right = bearer_send(bearer_backend, "PUT", f"{prefix}good", token, body,
                        {"x-amz-checksum-crc32": sig.checksum_b64("crc32", body)})
    assert right.status == 200, right
    (entry,) = [e for e in bearer_journal.journal() if e["path"].endswith("good")]
    assert entry["checksums_verified"] == ["x-amz-checksum-crc32"]


def test_bearer_token_with_presigned_query_is_refused(iam, bearer_backend):
    response = bearer_send(bearer_backend, "GET", "anything", token_for(iam),
                           query="X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00")
    assert_s3_error(response, 400, "InvalidArgument")


def test_sigv4_still_works_on_the_bearer_backend(bearer_backend, bearer_journal, sigv4_s3, prefix):
    sigv4_s3.put_object(Bucket=IBM_BUCKET, Key=f"{prefix}signed", Body=b"signed")
    assert stored_bytes(sigv4_s3, IBM_BUCKET, f"{prefix}signed") == b"signed"
    assert {e["auth"] for e in bearer_journal.journal()} == {"header-v4"}
    wrong = s3_client(bearer_backend.url, (BACKEND_KEYS[0], "not-the-secret"))
    with pytest.raises(ClientError) as refused:
        wrong.put_object(Bucket=IBM_BUCKET, Key=f"{prefix}unsigned", Body=b"x")
    assert error_code(refused.value) == "SignatureDoesNotMatch"


def test_a_backend_without_the_option_refuses_bearer_tokens(iam, backend):
    response = send("127.0.0.1", backend.port, "GET", "/real-bucket01/anything",
                    [("Host", f"127.0.0.1:{backend.port}"), ("Authorization", f"Bearer {token_for(iam)}")])
    assert_s3_error(response, 400, "InvalidArgument")
    assert b"Unsupported Authorization Type" in response.body


@pytest.fixture(scope="module")
def orphan_backend(workdir):
    """A bearer backend whose IAM endpoint is not there (a free port nobody listens on)."""
    introspect = f"http://127.0.0.1:{processes.free_port()}/__iam/introspect"
    backend = processes.start_backend({BACKEND_KEYS[0]: BACKEND_KEYS[1]}, workdir, "orphan-bearer-backend",
                                      bearer_introspect=introspect)
    _remember(backend.process)
    try:
        s3_client(backend.url, BACKEND_KEYS).create_bucket(Bucket=IBM_BUCKET)
        yield backend
    finally:
        processes.stop(backend.process)


def test_iam_unreachable_is_503_and_nothing_is_stored(orphan_backend, prefix):
    key = f"{prefix}orphan"
    response = bearer_send(orphan_backend, "PUT", key, UNKNOWN_TOKEN, b"x")
    assert_s3_error(response, 503, "ServiceUnavailable")
    assert not exists_at_backend(s3_client(orphan_backend.url, BACKEND_KEYS), IBM_BUCKET, key)


def test_backend_refuses_a_bad_introspection_url(workdir):
    with pytest.raises(RuntimeError, match="loopback"):
        processes.start_backend({BACKEND_KEYS[0]: BACKEND_KEYS[1]}, workdir, "bad-introspect-backend",
                                bearer_introspect="http://192.0.2.1/__iam/introspect", timeout=30)


def test_no_token_or_api_key_reaches_a_log(iam, iam_server, bearer_backend, prefix):
    token = token_for(iam)
    bearer_send(bearer_backend, "PUT", f"{prefix}logged", token, b"x")
    iam.reset()
    bearer_send(bearer_backend, "GET", f"{prefix}logged", token)  # refused: the verbose log names it
    iam.exchange("iam-apikey-nobody-has")
    for path in (iam_server.log_path, bearer_backend.log_path, bearer_backend.journal_path):
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        assert token not in text and IAM_API_KEY not in text and "iam-apikey-nobody-has" not in text, path
    with open(bearer_backend.log_path, encoding="utf-8", errors="replace") as handle:
        assert "bearer token is not current" in handle.read()

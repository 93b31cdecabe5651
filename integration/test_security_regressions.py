"""Security regressions: the holes an S3 gateway must not have, named for what the original product
(object-storage-proxy) let through (README: unsigned `GET /`, stale signatures, `Expect:
100-continue` bypasses, forged chunk signatures) and for the neighbouring holes reviewed with them.
One test (or parametrized group) per hole; each fails if the hole comes back.

This is the file a security reviewer reads as "the list of holes that stay closed". Every test sends
the attack to osp and asserts, besides osp's answer (an S3 XML error with its status and code), that
the backend saw nothing (its request journal is empty) and holds nothing (read straight from the
backend, never through osp). One exception is inherent to streaming: a forged chunk arrives after the
request head has been forwarded, so there the backend may see an aborted request, never an accepted
one, and never stores the object.

  1. `Expect: 100-continue` must not let a body flow before the signature is verified
                                             test_expect_100_continue_without_a_valid_signature_gets_403_never_100
  2. `uploadId` requests (UploadPart, Complete, Abort, ListParts) are verified like any other
                                             test_multipart_requests_without_a_valid_signature_are_refused
  3. unsigned requests, `GET /` (ListBuckets) among them, are never forwarded
                                             test_unsigned_requests_are_refused,
                                             test_list_buckets_with_a_wrong_signature_is_refused
  4. forged aws-chunked chunk (and trailer) signatures store nothing
                                             test_forged_chunk_signature_stores_nothing
  5. stale signatures: 15-minute clock skew, presigned expiry
                                             test_stale_header_signature_is_request_time_too_skewed,
                                             test_stale_presigned_url_is_refused
  6. a policy decision cached for one key never answers for another key, action, principal or
     listing prefix (rules and a real Rego engine)
                                             test_cached_allow_never_answers_for_another_*
  7. SigV2 presigned URLs are verified       test_tampered_sigv2_presigned_url_is_refused
  8. virtual-host requests are verified      test_virtual_host_request_without_a_valid_signature_is_refused
  9. a backend key is not a client key       test_backend_keys_are_not_client_keys
 10. the backend runs the request osp authorized, not one a header names
                                             test_method_and_path_override_headers_are_refused,
                                             test_x_amz_headers_added_after_signing_are_refused,
                                             test_policy_parameters_a_backend_could_read_otherwise_are_refused,
                                             test_backend_extensions_are_refused
     (and reads the body and query alike: test_policy_rules.py's DeleteObjects, RestoreObject,
     raw `+`, hoisted `x-amz-*` query and copy-source-outside-a-copy tests; test_post_object.py's
     form field names and fields that would make an IAM bucket's PUT a copy)

Related refusals live in test_refusals.py (wrong secret, unknown key, tampered
headers and bodies, truncated bodies), test_presigned.py (tampered SigV4/SigV2 presigned key and
expiry), test_policy_rules.py / test_policy_opa.py (policy refusals, `100 Continue` for a denied key,
fail-closed policy backends), and test_hostile_http.py (malformed HTTP, smuggling, path tricks).
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from conftest import ALIAS_BUCKET, REAL_BUCKET, REGION, _osp_env, _remember, policy_osp_config
from osptest import processes
from osptest.clients import BACKEND_KEYS, CLIENT_KEYS, botocore_signed, s3_client
from osptest.s3checks import assert_osp_error, data, exists_at_backend, flip_chunk_signature, stored_bytes
from s3client import signer as sig
from s3client.http import parse_response, send, send_prepared, serialize

pytestmark = pytest.mark.usefixtures("osp")

HERE = os.path.dirname(os.path.abspath(__file__))
BOB_KEYS = ("AKIDBOB00000001", "bob-secret-0001")
TWO_DAYS = 2 * 24 * 3600


@pytest.fixture
def good(osp) -> sig.RequestSigner:
    return sig.RequestSigner(sig.Credentials(*CLIENT_KEYS), osp.host)


@pytest.fixture
def wrong(osp) -> sig.RequestSigner:
    """alice's access key with a secret that is not hers: a signature that does not verify."""
    return sig.RequestSigner(sig.Credentials(CLIENT_KEYS[0], "not-alices-secret"), osp.host)


def to_osp(osp, request: sig.PreparedRequest):
    return send_prepared("127.0.0.1", osp.port, request)


def unsigned(request: sig.PreparedRequest) -> sig.PreparedRequest:
    """The same request with every trace of a signature removed."""
    request.headers = [(k, v) for k, v in request.headers
                       if k.lower() not in ("authorization", "x-amz-date", "x-amz-content-sha256")]
    return request


# -- 1. Expect: 100-continue ------------------------------------------------------------------------

@pytest.mark.parametrize("signature", ["unsigned", "wrong-secret"])
def test_expect_100_continue_without_a_valid_signature_gets_403_never_100(osp, good, wrong, backend_s3, journal,
                                                                          prefix, signature):
    key = f"{prefix}k"
    request = (good if signature == "unsigned" else wrong).prepare(
        "PUT", f"/{ALIAS_BUCKET}/{key}", body=data(100_000), payload_mode=sig.UNSIGNED)
    if signature == "unsigned":
        request = unsigned(request)
    request.headers.append(("Expect", "100-continue"))
    head = serialize(request)[: -len(request.body)]
    with socket.create_connection(("127.0.0.1", osp.port), timeout=30) as sock:
        sock.sendall(head)  # headers only: a correct server answers 403 without waiting for the body
        received = b""
        deadline = time.monotonic() + 30
        while b"</Error>" not in received and time.monotonic() < deadline:
            piece = sock.recv(65536)
            if not piece:
                break
            received += piece
    assert not received.startswith(b"HTTP/1.1 100"), received[:200]
    assert b"100 Continue" not in received
    assert_osp_error(parse_response(received), 403, "AccessDenied" if signature == "unsigned" else "SignatureDoesNotMatch")
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


# -- 2. uploadId requests --------------------------------------------------------------------------

@pytest.mark.parametrize("signature", ["unsigned", "wrong-secret"])
@pytest.mark.parametrize("operation", ["UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload", "ListParts"])
def test_multipart_requests_without_a_valid_signature_are_refused(osp, osp_s3, good, wrong, backend_s3, journal,
                                                                   prefix, operation, signature):
    key = f"{prefix}mp"
    upload_id = osp_s3.create_multipart_upload(Bucket=ALIAS_BUCKET, Key=key)["UploadId"]
    try:
        journal.reset()
        signer = good if signature == "unsigned" else wrong
        path = f"/{ALIAS_BUCKET}/{key}"
        complete_xml = (b'<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part>'
                        b"</CompleteMultipartUpload>")
        request = {
            "UploadPart": lambda: signer.prepare("PUT", path, query={"partNumber": "1", "uploadId": upload_id},
                                                 body=data(200_000)),
            "CompleteMultipartUpload": lambda: signer.prepare("POST", path, query={"uploadId": upload_id},
                                                              body=complete_xml),
            "AbortMultipartUpload": lambda: signer.prepare("DELETE", path, query={"uploadId": upload_id}),
            "ListParts": lambda: signer.prepare("GET", path, query={"uploadId": upload_id}),
        }[operation]()
        if signature == "unsigned":
            request = unsigned(request)
        assert_osp_error(to_osp(osp, request), 403,
                         "AccessDenied" if signature == "unsigned" else "SignatureDoesNotMatch")
        assert journal.journal() == []
        # the upload is still there (not aborted), without parts, and nothing was completed
        assert backend_s3.list_parts(Bucket=REAL_BUCKET, Key=key, UploadId=upload_id).get("Parts", []) == []
        assert not exists_at_backend(backend_s3, REAL_BUCKET, key)
    finally:
        osp_s3.abort_multipart_upload(Bucket=ALIAS_BUCKET, Key=key, UploadId=upload_id)


# -- 3. unsigned requests, GET / included ------------------------------------------------------------

@pytest.mark.parametrize("method, where", [
    ("GET", "service"), ("HEAD", "service"), ("GET", "bucket"), ("GET", "object"), ("PUT", "object"),
    ("DELETE", "object"),
], ids=["list-buckets", "head-service", "list-objects", "get-object", "put-object", "delete-object"])
def test_unsigned_requests_are_refused(osp, backend_s3, journal, prefix, method, where):
    key = f"{prefix}k"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"keep")
    journal.reset()
    target = {"service": "/", "bucket": f"/{ALIAS_BUCKET}", "object": f"/{ALIAS_BUCKET}/{key}"}[where]
    body = b"overwrite" if method == "PUT" else b""
    headers = [("Host", osp.host)] + ([("Content-Length", str(len(body)))] if body else [])
    response = send("127.0.0.1", osp.port, method, target, headers, body)
    if method == "HEAD":
        assert response.status == 403 and response.body == b"", response
        assert response.headers.get("x-amz-request-id")
    else:
        assert_osp_error(response, 403, "AccessDenied")
        assert b"<Buckets>" not in response.body and b"<Contents>" not in response.body, response
    assert journal.journal() == []
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"keep"


def test_list_buckets_with_a_wrong_signature_is_refused(osp, wrong, journal):
    assert_osp_error(to_osp(osp, wrong.prepare("GET", "/")), 403, "SignatureDoesNotMatch")
    assert journal.journal() == []


# -- 4. forged chunk signatures ---------------------------------------------------------------------

def _flip_trailer_signature(body: bytes) -> bytes:
    marker = b"x-amz-trailer-signature:"
    at = body.index(marker) + len(marker)
    return body[:at] + (b"0" if body[at:at + 1] != b"0" else b"1") + body[at + 1:]


# (mode, which signature is forged): the n-th chunk's (4 is the final, empty chunk) or the trailer's.
FORGERIES = {
    "plain-first-chunk": (sig.SIGNED_CHUNKS, 1),
    "plain-middle-chunk": (sig.SIGNED_CHUNKS, 2),
    "plain-final-empty-chunk": (sig.SIGNED_CHUNKS, 4),
    "trailer-first-chunk": (sig.SIGNED_CHUNKS_TRAILER, 1),
    "trailer-middle-chunk": (sig.SIGNED_CHUNKS_TRAILER, 2),
    "trailer-final-empty-chunk": (sig.SIGNED_CHUNKS_TRAILER, 4),
    "trailer-signature": (sig.SIGNED_CHUNKS_TRAILER, "trailer"),
}


@pytest.mark.parametrize("mode, chunk_number", FORGERIES.values(), ids=FORGERIES.keys())
def test_forged_chunk_signature_stores_nothing(osp, good, backend_s3, journal, prefix, mode, chunk_number):
    key = f"{prefix}k"
    request = good.prepare("PUT", f"/{ALIAS_BUCKET}/{key}", body=data(3 * 65536), payload_mode=mode, chunk_size=65536)
    if chunk_number == "trailer":
        request.body = _flip_trailer_signature(request.body)
    else:
        request.body = flip_chunk_signature(request.body, chunk_number)
    response = to_osp(osp, request)
    # The head may already be on its way to the backend when a bad chunk arrives: the answer is a 403,
    # or the connection is cut; the object never exists.
    assert response.status == 403 and response.error_code in ("SignatureDoesNotMatch", None), response
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)
    # the backend may have seen an aborted request, but never an accepted one
    assert [e for e in journal.journal() if e["verdict"] == "accepted" and e["method"] == "PUT"] == []


# -- 5. stale signatures -----------------------------------------------------------------------------

@pytest.mark.parametrize("offset", [-20 * 60, 20 * 60, -TWO_DAYS], ids=["20min-past", "20min-future", "2days-past"])
def test_stale_header_signature_is_request_time_too_skewed(osp, good, backend_s3, journal, prefix, offset):
    """Correctly signed, with the X-Amz-Date (and credential scope date) it claims."""
    key = f"{prefix}k"
    request = good.prepare("PUT", f"/{ALIAS_BUCKET}/{key}", body=b"x", amz_date=sig.amz_now(offset))
    assert_osp_error(to_osp(osp, request), 403, "RequestTimeTooSkewed")
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


@pytest.mark.parametrize("signed_ago, expires", [(600, 60), (TWO_DAYS, 3600)], ids=["10min-ago-for-1min", "2days-ago-for-1h"])
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_stale_presigned_url_is_refused(osp, good, backend_s3, journal, prefix, signed_ago, expires, method):
    key = f"{prefix}k"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"keep")
    journal.reset()
    target = good.presign(method, f"/{ALIAS_BUCKET}/{key}", expires=expires, amz_date=sig.amz_now(-signed_ago))
    body = b"late" if method == "PUT" else b""
    headers = [("Host", osp.host)] + ([("Content-Length", str(len(body)))] if body else [])
    response = send("127.0.0.1", osp.port, method, target, headers, body)
    assert_osp_error(response, 403, "AccessDenied")
    assert b"expired" in response.body.lower(), response
    assert journal.journal() == []
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"keep"


# -- 6. cached decisions -----------------------------------------------------------------------------

OPA_POLICY = """
package osp

# alice: read pub/a* (answered with a scope, so osp may cache it for the whole prefix "pub/a"),
# list under pub/. Nothing else, for anyone.
default allow := false

allow := {"allow": true, "ttl": 60, "scope": {"prefix": "pub/a"}} if {
\tinput.account == "alice"
\tinput.bucket == "proxy-bucket01"
\tinput.action == "s3:GetObject"
\tstartswith(input.object, "pub/a")
}

allow := true if {
\tinput.account == "alice"
\tinput.bucket == "proxy-bucket01"
\tinput.action == "s3:ListBucket"
\tstartswith(input.conditions.prefix[0], "pub/")
}
"""


def _policy_config(port: int, backend_port: int, authorization: str) -> str:
    return policy_osp_config(port, backend_port, authorization,
                             f"  - {{access_key: {BOB_KEYS[0]}, secret_key: {BOB_KEYS[1]}, principal: bob}}\n")


RULES = f"""  backend: rules
  rules:
    - {{principals: [alice], buckets: [{ALIAS_BUCKET}], prefix: "pub/a", actions: [read], effect: allow}}
    - {{principals: [alice], buckets: [{ALIAS_BUCKET}], prefix: "pub/", actions: [list], effect: allow}}
"""


def _start_opa(workdir: str) -> tuple[subprocess.Popen, int]:
    pytest.importorskip("opa_bindings", reason="the Rego engine (opa-golib-python-bindings) is not installed")
    policy = os.path.join(workdir, "regressions.rego")
    with open(policy, "w") as handle:
        handle.write(OPA_POLICY)
    log_path = os.path.join(workdir, "opa-regressions.log")
    log = open(log_path, "ab")
    process = subprocess.Popen([sys.executable, os.path.join(HERE, "policy", "opa_server.py"), "--port", "0",
                                "--policy", policy], stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
    log.close()
    _remember(process)
    try:
        return process, processes.read_ready_port(process, "opa_server.py", 30, log_path)
    except BaseException:
        processes.stop(process)
        raise


@dataclass
class PolicyOsp:
    osp: processes.Osp
    #: The OPA-compatible server's port, for the `opa` variant (None for `rules`).
    opa_port: int | None

    @property
    def url(self) -> str:
        return self.osp.url

    def policy_callouts(self) -> int | None:
        """How many questions osp has asked the OPA server so far (None for `rules`)."""
        if self.opa_port is None:
            return None
        with urllib.request.urlopen(f"http://127.0.0.1:{self.opa_port}/__stats", timeout=10) as response:
            return json.loads(response.read())["requests"]


@pytest.fixture(scope="module", params=["rules", "opa"])
def policy_osp(request, backend, workdir):
    """osp with a policy that lets alice read `pub/a` and list `pub/`, and nothing else."""
    opa, opa_port = None, None
    try:
        if request.param == "opa":
            opa, opa_port = _start_opa(workdir)
            authorization = (f'  backend: opa\n  opa: {{url: "http://127.0.0.1:{opa_port}/v1/data/osp/allow", '
                             f"timeout_ms: 2000}}\n  cache: {{allow_ttl_seconds: 60, deny_ttl_seconds: 60}}\n")
        else:
            authorization = RULES
        port = processes.free_port()
        server = processes.start_osp(_policy_config(port, backend.port, authorization), port, workdir, _osp_env(),
                                     f"osp-regressions-{request.param}")
        _remember(server.process)
        try:
            yield PolicyOsp(server, opa_port)
        finally:
            processes.stop(server.process)
    finally:
        processes.stop(opa)


@pytest.fixture
def published(policy_osp, backend_s3, journal, prefix):
    """`pub/a…` and `pub/b…` (and `priv/…`) objects at the backend; the journal emptied afterwards."""
    keys = {name: f"{name}/{prefix}obj" for name in ("pub/a", "pub/b", "priv")}
    for name, key in keys.items():
        backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=name.encode())
    journal.reset()
    return keys


def _warm(policy_osp: PolicyOsp, client, keys) -> None:
    """alice reads pub/a twice: the allow is now cached (for the scope pub/a); with OPA, the second
    read is answered without a callout, which shows the cache is really in play."""
    before = policy_osp.policy_callouts()
    for _ in range(2):
        assert client.get_object(Bucket=ALIAS_BUCKET, Key=keys["pub/a"])["Body"].read() == b"pub/a"
    if before is not None:
        assert policy_osp.policy_callouts() - before <= 1


def _refused(call) -> tuple[int, str]:
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError) as error:
        call()
    response = error.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def _backend_saw(journal, key: str) -> list:
    return [(e["method"], e["path"]) for e in journal.journal() if key in e["path"] or key in e["query"]]


def test_cached_allow_never_answers_for_another_key(policy_osp, published, journal):
    alice = s3_client(policy_osp.url, CLIENT_KEYS)
    _warm(policy_osp, alice, published)
    assert _refused(lambda: alice.get_object(Bucket=ALIAS_BUCKET, Key=published["pub/b"])) == (403, "AccessDenied")
    assert _backend_saw(journal, published["pub/b"]) == []


def test_cached_allow_never_answers_for_another_action(policy_osp, published, backend_s3, journal):
    alice = s3_client(policy_osp.url, CLIENT_KEYS)
    _warm(policy_osp, alice, published)
    key = published["pub/a"]
    assert _refused(lambda: alice.put_object(Bucket=ALIAS_BUCKET, Key=key, Body=b"overwrite")) == (403, "AccessDenied")
    assert _refused(lambda: alice.delete_object(Bucket=ALIAS_BUCKET, Key=key)) == (403, "AccessDenied")
    assert [m for m, _ in _backend_saw(journal, key)] == ["GET", "GET"]
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"pub/a"


def test_cached_allow_never_answers_for_another_principal(policy_osp, published, journal):
    _warm(policy_osp, s3_client(policy_osp.url, CLIENT_KEYS), published)
    bob = s3_client(policy_osp.url, BOB_KEYS)
    assert _refused(lambda: bob.get_object(Bucket=ALIAS_BUCKET, Key=published["pub/a"])) == (403, "AccessDenied")
    assert [m for m, _ in _backend_saw(journal, published["pub/a"])] == ["GET", "GET"]


def test_cached_allow_never_answers_for_another_listing_prefix(policy_osp, published, journal, prefix):
    alice = s3_client(policy_osp.url, CLIENT_KEYS)
    for _ in range(2):
        listed = alice.list_objects_v2(Bucket=ALIAS_BUCKET, Prefix="pub/")
        assert published["pub/a"] in [o["Key"] for o in listed.get("Contents", [])]
    journal.reset()
    for other in ("priv/", f"priv/{prefix}", "", "pu"):
        assert _refused(lambda: alice.list_objects_v2(Bucket=ALIAS_BUCKET, Prefix=other)) == (403, "AccessDenied")
    assert journal.journal() == []


# -- 7. SigV2 presigned URLs -------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_tampered_sigv2_presigned_url_is_refused(osp, osp_client, backend_s3, journal, prefix, method):
    key = f"{prefix}k"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"keep")
    journal.reset()
    operation = "get_object" if method == "GET" else "put_object"
    url = osp_client("s3").generate_presigned_url(operation, Params={"Bucket": ALIAS_BUCKET, "Key": key},
                                                  ExpiresIn=300)
    assert "Signature=" in url and "X-Amz-" not in url, url  # really SigV2
    at = url.index("Signature=") + len("Signature=")
    url = url[:at] + ("A" if url[at] != "A" else "B") + url[at + 1:]
    parts = urlsplit(url)
    body = b"overwrite" if method == "PUT" else b""
    headers = [("Host", parts.netloc)] + ([("Content-Length", str(len(body)))] if body else [])
    response = send("127.0.0.1", osp.port, method, f"{parts.path}?{parts.query}", headers, body)
    assert_osp_error(response, 403, "SignatureDoesNotMatch")
    assert journal.journal() == []
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"keep"


# -- 8. virtual-host requests ------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "PUT"])
@pytest.mark.parametrize("signature", ["wrong-secret", "unsigned"])
def test_virtual_host_request_without_a_valid_signature_is_refused(osp, backend_s3, journal, prefix, method,
                                                                    signature):
    key = f"{prefix}k"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"keep")
    journal.reset()
    host = f"{ALIAS_BUCKET}.s3.local:{osp.port}"
    body = b"overwrite" if method == "PUT" else b""
    if signature == "unsigned":
        target = f"/{key}"
        headers = [("Host", host)] + ([("Content-Length", str(len(body)))] if body else [])
    else:
        target, headers = botocore_signed(method, f"{osp.url}/{key}", (CLIENT_KEYS[0], "wrong"), body=body,
                                          headers={"host": host})
    response = send("127.0.0.1", osp.port, method, target, headers, body)
    assert_osp_error(response, 403, "AccessDenied" if signature == "unsigned" else "SignatureDoesNotMatch")
    assert journal.journal() == []
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"keep"


# -- 9. backend keys ---------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["header", "presigned"])
def test_backend_keys_are_not_client_keys(osp, backend_s3, journal, prefix, how):
    key = f"{prefix}k"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"keep")
    journal.reset()
    signer = sig.RequestSigner(sig.Credentials(*BACKEND_KEYS), osp.host)
    if how == "header":
        response = to_osp(osp, signer.prepare("GET", f"/{ALIAS_BUCKET}/{key}"))
    else:
        response = send("127.0.0.1", osp.port, "GET", signer.presign("GET", f"/{ALIAS_BUCKET}/{key}"),
                        [("Host", osp.host)])
    assert_osp_error(response, 403, "InvalidAccessKeyId")
    assert journal.journal() == []


# -- 10. requests the backend would read as another ----------------------------------------------------

@pytest.mark.parametrize("name, value", [
    ("X-HTTP-Method-Override", "DELETE"), ("X-HTTP-Method", "DELETE"), ("X-Method-Override", "PUT"),
    ("X-Original-URL", f"/{REAL_BUCKET}/other"), ("X-Rewrite-URL", f"/{REAL_BUCKET}/other"),
])
def test_method_and_path_override_headers_are_refused(osp, good, backend_s3, journal, prefix, name, value):
    """osp authorizes the request line's method and path and passes other headers on: a backend, or
    a proxy before it, that took the method or path from one of these would run what osp never
    authorized (a GET that deletes). Refused, with nothing forwarded."""
    key = f"{prefix}k"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"keep")
    journal.reset()
    response = to_osp(osp, good.prepare("GET", f"/{ALIAS_BUCKET}/{key}", headers={name: value}))
    assert_osp_error(response, 400, "InvalidArgument")
    assert journal.journal() == []
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"keep"


@pytest.mark.parametrize("how", ["presigned", "header"])
@pytest.mark.parametrize("added", [("x-amz-copy-source", f"/{ALIAS_BUCKET}/secret-source"), ("x-amz-acl", "public-read"),
                                   ("x-amz-tagging", "leaked=yes")])
def test_x_amz_headers_added_after_signing_are_refused(osp, good, backend_s3, journal, prefix, how, added):
    """AWS refuses an `x-amz-*` header the signature does not cover (HeadersNotSigned). Whoever holds
    a presigned PUT URL (a bearer token, often handed to a browser), or replays a signed PUT within
    its 15 minutes, could otherwise turn it into a copy of another object or a public or tagged
    object, asked for in the signer's name and signed by osp with the backend's key. 403, nothing
    forwarded."""
    backend_s3.put_object(Bucket=REAL_BUCKET, Key="secret-source", Body=b"secret")
    key = f"{prefix}upload"
    path = f"/{ALIAS_BUCKET}/{key}"
    journal.reset()
    if how == "presigned":
        target = good.presign("PUT", path)
        headers = [("Host", osp.host), ("Content-Length", "1"), added]
        response = send("127.0.0.1", osp.port, "PUT", target, headers, b"x")
    else:
        request = good.prepare("PUT", path, body=b"x")
        request.headers.append(added)
        response = to_osp(osp, request)
    assert_osp_error(response, 403, "AccessDenied")
    assert b"not signed: " + added[0].encode() in response.body
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


@pytest.mark.parametrize("query", [
    [("versionId", "3/L4kqtJl+rmSp")],            # a raw + : a space to AWS S3, a plus to osp
    [("versionId", "v1"), ("versionId", "v2")],   # which one counts differs between parsers
    [("list-type", "2"), ("max-keys", "1"), ("max-keys", "1000")],
])
def test_policy_parameters_a_backend_could_read_otherwise_are_refused(osp, good, backend_s3, journal, prefix, query):
    """`versionId` picks `s3:GetObjectVersion` and, like `prefix`, `delimiter` and `max-keys`, is a
    condition OPA judges by: each must mean to the backend what it meant to osp. A raw `+` (AWS
    version ids hold them; clients send `%2B`) or the parameter twice is 400, nothing forwarded."""
    key = f"{prefix}versioned"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"v")
    path = f"/{ALIAS_BUCKET}" if query[0][0] == "list-type" else f"/{ALIAS_BUCKET}/{key}"
    request = good.prepare("GET", path, query=query)  # a raw + is signed as SigV4 canonicalises it: %2B
    request.target = request.target.replace("%2B", "+")
    journal.reset()
    response = to_osp(osp, request)
    assert_osp_error(response, 400, "InvalidArgument")
    assert journal.journal() == []


@pytest.mark.parametrize("method, header", [
    ("PUT", ("X-Amz-Meta-Snowball-Auto-Extract", "true")),     # MinIO unpacks the tar at its entries' keys
    ("PUT", ("x-amz-meta-minio-snowball-prefix", "elsewhere/")),
    ("GET", ("X-Minio-Extract", "true")),                      # MinIO reads inside an archive
    ("DELETE", ("x-minio-force-delete", "true")),
])
def test_backend_extensions_are_refused(osp, good, backend_s3, journal, prefix, method, header):
    """A backend's own extensions do more than the S3 operation osp authorized, under osp's backend
    key: MinIO's Snowball auto-extract turns a PUT of `team/batch.tar` into objects wherever the
    archive's entries say; `x-minio-force-delete` empties a bucket it deletes. 501, nothing forwarded."""
    key = f"{prefix}batch.tar"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"keep")
    journal.reset()
    body = b"tar" if method == "PUT" else b""
    response = to_osp(osp, good.prepare(method, f"/{ALIAS_BUCKET}/{key}", headers=dict([header]), body=body))
    assert_osp_error(response, 501, "NotImplemented")
    assert journal.journal() == []
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"keep"


@pytest.mark.parametrize("query, headers", [
    ([("session", "")], {"x-amz-create-session-mode": "ReadWrite"}),   # CreateSession as the SDKs send it
    ([("session", ""), ("x-id", "CreateSession")], {}),
    ([("session", ""), ("unknown", "1")], {}),     # an operation osp does not know would still be one to S3
    ([("se%73sion", "")], {}),                     # the name percent-encoded (same canonical query)
])
def test_create_session_never_hands_out_the_backends_credentials(osp, good, journal, query, headers):
    """CreateSession (S3 Express directory buckets) answers with session credentials of whoever
    signed it — osp's backend identity: a client holding them would reach the bucket without osp,
    with the backend's rights. 501 whatever the policy says (this osp is allow-all), nothing forwarded."""
    encoded = query[0][0] == "se%73sion"
    request = good.prepare("GET", f"/{ALIAS_BUCKET}", query=[("session", "")] if encoded else query, headers=headers)
    if encoded:
        request.target = request.target.replace("session", "se%73sion")
    journal.reset()
    response = to_osp(osp, request)
    assert_osp_error(response, 501, "NotImplemented")
    assert b"SecretAccessKey" not in response.body
    assert journal.journal() == []


@pytest.mark.parametrize("method, query, body", [
    ("POST", [], b"Action=AssumeRole&Version=2011-06-15&DurationSeconds=3600"),  # MinIO's STS: credentials
    ("POST", [("Action", "AssumeRole"), ("Version", "2011-06-15")], b""),
    ("DELETE", [], b""),
    ("PUT", [], b""),
])
def test_the_service_answers_list_buckets_and_nothing_else(osp, good, journal, method, query, body):
    """`/` with no bucket is ListBuckets, which osp answers itself. Any other request there is 405
    MethodNotAllowed — not a bucket listing, and never forwarded (with a default route, MinIO's STS
    on the same port would answer `POST /` with credentials for osp's backend identity)."""
    headers = {"content-type": "application/x-www-form-urlencoded"} if body else {}
    journal.reset()
    response = to_osp(osp, good.prepare(method, "/", query=query, headers=headers, body=body))
    assert_osp_error(response, 405, "MethodNotAllowed")
    assert journal.journal() == []
    listing = to_osp(osp, good.prepare("GET", "/"))
    assert listing.status == 200 and b"<ListAllMyBucketsResult" in listing.body, listing

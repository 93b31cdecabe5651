"""S3 POST Object through osp: browser form uploads, as boto3's `generate_presigned_post` makes them.

The form carries the client's credential, a base64 JSON POST policy (expiration + conditions) and the
policy's signature (SigV4 `x-amz-signature`, or SigV2 `AWSAccessKeyId` + `signature`). osp verifies
that signature with the client's secret, checks the policy against the form, asks the policy engine
about `s3:PutObject` on the resulting key, and only then sends the backend a form of its own: the
same file bytes under a policy osp writes and signs with the backend's key. The backend
(s3backend, which checks POST policies as S3 does) therefore proves what osp forwarded: its journal
entry is a `form-v4` request signed with the backend key, never the client's.

Every object is read back straight from the backend. Refusals osp decides itself leave the backend
journal empty, except `content-length-range`: osp streams the file, so it counts it on the way and
refuses before the backend has the whole form (and passes the range on in its own policy too).
"""
from __future__ import annotations

import hashlib
import os
import socket
import time
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from conftest import (ALIAS_BUCKET, IBM_BUCKET, REAL_BUCKET, VHOST_BACKEND_BUCKET, VIRTUAL_HOST_DOMAIN, _osp_env, _remember,
                      policy_osp_config, start_ibm_osp)
from osptest import processes
from osptest.clients import BACKEND_KEYS, CLIENT_KEYS, s3_client
from osptest.forms import encode_form, flip_base64, flip_hex, post_form, post_form_chunked
from osptest.s3checks import assert_osp_error, data, exists_at_backend, stored_bytes
from s3client.http import Response, parse_response, read_until, send

pytestmark = pytest.mark.usefixtures("osp")

FILE_BODY = b"form upload body\r\n--looks-like-a-boundary\r\n" + data(20_000, "form")


def form_to(server, post: dict, fields: dict | list | None = None, file: tuple | None = ("upload.bin", FILE_BODY),
            timeout: float = 30) -> Response:
    """Submit the form to the URL boto3 gave (`post["url"]`), with `fields` (default: boto3's) and
    then the file part, as a browser would: one multipart/form-data POST, no Authorization header."""
    target = urlsplit(post["url"]).path
    return post_form("127.0.0.1", server.port, target, post["fields"] if fields is None else fields, file,
                     host_header=server.host, timeout=timeout)


def backend_posts(journal) -> list[dict]:
    return [entry for entry in journal.journal() if entry["method"] == "POST"]


def assert_forwarded_as_osps_own_form(entry: dict, client_fields: dict) -> None:
    """The backend verified a SigV4 form signed with the backend's key, not the client's fields."""
    assert (entry["verdict"], entry["auth"], entry["access_key"]) == ("accepted", "form-v4", BACKEND_KEYS[0]), entry
    assert entry["path"].rstrip("/") == f"/{REAL_BUCKET}"
    forwarded = entry["form"]["fields"]
    assert forwarded["x-amz-credential"].startswith(BACKEND_KEYS[0] + "/")
    client_signature = client_fields.get("x-amz-signature") or client_fields.get("signature")
    assert client_signature not in forwarded.values()
    assert CLIENT_KEYS[0] not in str(forwarded)


# -- accepted forms ---------------------------------------------------------------------------------

def test_sigv4_form_is_stored_byte_identical_and_re_signed_for_the_backend(osp, osp_s3, backend_s3, journal, prefix):
    """A SigV4 form (boto3's default for this client) → 204 No Content; the object at the backend is
    the file part, byte for byte; the backend heard exactly one request: osp's own form."""
    key = f"{prefix}form.bin"
    post = osp_s3.generate_presigned_post(ALIAS_BUCKET, key, ExpiresIn=300)
    assert post["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert post["fields"]["x-amz-credential"].startswith(CLIENT_KEYS[0] + "/")
    response = form_to(osp, post)
    assert response.status == 204, response
    (entry,) = journal.journal()
    assert entry["method"] == "POST" and entry["status"] == 204
    assert_forwarded_as_osps_own_form(entry, post["fields"])
    assert entry["form"]["key"] == key and entry["form"]["file_length"] == len(FILE_BODY)
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == FILE_BODY


def test_sigv2_form_is_stored(osp, osp_client, backend_s3, journal, prefix):
    """A SigV2 form (`AWSAccessKeyId`, `policy`, base64 HMAC-SHA1 `signature`) is as good as SigV4;
    osp still forwards a SigV4 form of its own."""
    key = f"{prefix}v2.bin"
    post = osp_client("s3").generate_presigned_post(ALIAS_BUCKET, key, ExpiresIn=300)
    assert post["fields"]["AWSAccessKeyId"] == CLIENT_KEYS[0] and "signature" in post["fields"]
    response = form_to(osp, post)
    assert response.status == 204, response
    (entry,) = backend_posts(journal)
    assert_forwarded_as_osps_own_form(entry, post["fields"])
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == FILE_BODY


def test_filename_placeholder_in_the_key_is_the_file_parts_name(osp, osp_s3, backend_s3, prefix):
    """`key` = `…/${filename}` (with a `starts-with $key` condition): stored under the name the file
    part carries, as S3 does for a page that lets the user pick the file."""
    post = osp_s3.generate_presigned_post(ALIAS_BUCKET, f"{prefix}uploads/${{filename}}", ExpiresIn=300,
                                          Conditions=[["starts-with", "$key", f"{prefix}uploads/"]])
    response = form_to(osp, post, file=("holiday photo.jpg", FILE_BODY, "image/jpeg"))
    assert response.status == 204, response
    assert stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}uploads/holiday photo.jpg") == FILE_BODY


def test_success_action_status_201_is_a_post_response_naming_the_clients_bucket(osp, osp_s3, backend_s3, journal,
                                                                                prefix):
    """`success_action_status=201` → 201 Created with `<PostResponse>`: Location, Bucket (the bucket
    the client posted to, never the backend's), Key, ETag (the stored object's)."""
    key = f"{prefix}created.bin"
    post = osp_s3.generate_presigned_post(ALIAS_BUCKET, key, ExpiresIn=300, Fields={"success_action_status": "201"},
                                          Conditions=[{"success_action_status": "201"}])
    response = form_to(osp, post)
    assert response.status == 201, response
    document = ET.fromstring(response.body)
    assert document.tag == "PostResponse", response
    assert (document.findtext("Bucket"), document.findtext("Key")) == (ALIAS_BUCKET, key)
    assert document.findtext("ETag") == backend_s3.head_object(Bucket=REAL_BUCKET, Key=key)["ETag"]
    location = document.findtext("Location") or ""
    assert location.endswith(quote(key)) and REAL_BUCKET not in location, location
    (entry,) = backend_posts(journal)
    assert not any(name.lower().startswith("success_action_") for name in entry["form"]["fields"]), entry
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == FILE_BODY


def test_success_action_redirect_is_a_303_to_the_page_with_bucket_key_and_etag(osp, osp_s3, backend_s3, journal,
                                                                               prefix):
    """`success_action_redirect` → 303 See Other to that URL with `bucket` (the client's), `key` and
    `etag` added to its query, as S3 sends the browser back to the page."""
    key = f"{prefix}redirected.bin"
    redirect = "http://example.invalid/done"
    post = osp_s3.generate_presigned_post(ALIAS_BUCKET, key, ExpiresIn=300,
                                          Fields={"success_action_redirect": redirect},
                                          Conditions=[{"success_action_redirect": redirect}])
    response = form_to(osp, post)
    assert response.status == 303, response
    location = response.headers["location"]
    assert location.startswith(redirect + "?"), location
    query = parse_qs(urlsplit(location).query)
    assert (query["bucket"], query["key"]) == ([ALIAS_BUCKET], [key])
    assert query["etag"] == [backend_s3.head_object(Bucket=REAL_BUCKET, Key=key)["ETag"]]
    (entry,) = backend_posts(journal)
    assert not any(name.lower().startswith("success_action_") for name in entry["form"]["fields"]), entry


def test_a_form_posted_virtual_host_style_reaches_a_virtual_host_backend(osp, osp_s3, backend_s3, journal, prefix):
    """`POST /` to `bucket.s3.local`: the bucket is the host's first label. Here the bucket's backend
    is addressed virtual-host style too (under its real name), and the 201 document's Location is the
    object's address at osp, in the style the client used."""
    key = f"{prefix}vhost form.bin"
    post = osp_s3.generate_presigned_post(VHOST_BACKEND_BUCKET, key, ExpiresIn=300,
                                          Fields={"success_action_status": "201"},
                                          Conditions=[{"success_action_status": "201"}])
    host = f"{VHOST_BACKEND_BUCKET}.{VIRTUAL_HOST_DOMAIN}:{osp.port}"
    response = post_form("127.0.0.1", osp.port, "/", post["fields"], ("f.bin", FILE_BODY), host_header=host)
    assert response.status == 201, response
    document = ET.fromstring(response.body)
    assert document.findtext("Bucket") == VHOST_BACKEND_BUCKET
    assert document.findtext("Location") == f"http://{host}/{quote(key)}"
    (entry,) = backend_posts(journal)
    assert entry["path"] == "/", entry
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == FILE_BODY


def test_a_page_posting_the_form_with_its_origin_gets_the_buckets_cors_headers(osp, osp_s3, backend_s3, prefix):
    """A page that uploads with XHR/fetch reads the answer only if it carries the bucket's CORS headers:
    osp passes the request's `Origin` on, so the bucket's rules answer for that origin (without it
    this backend answers `*`)."""
    origin = "https://uploader.example"
    osp_s3.put_bucket_cors(Bucket=ALIAS_BUCKET, CORSConfiguration={"CORSRules": [{
        "AllowedOrigins": [origin], "AllowedMethods": ["POST"], "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"]}]})
    try:
        key = f"{prefix}from-page.bin"
        post = osp_s3.generate_presigned_post(ALIAS_BUCKET, key, ExpiresIn=300)
        response = post_form("127.0.0.1", osp.port, f"/{ALIAS_BUCKET}", post["fields"], ("page.bin", FILE_BODY),
                             host_header=osp.host, headers=[("Origin", origin)])
    finally:
        osp_s3.delete_bucket_cors(Bucket=ALIAS_BUCKET)
    assert response.status == 204, response
    assert response.headers.get("access-control-allow-origin") == origin, response.headers
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == FILE_BODY


def test_content_type_and_metadata_fields_are_stored_with_the_object(osp, osp_s3, backend_s3, prefix):
    """`Content-Type` and `x-amz-meta-*` fields (named in the policy) become the object's headers."""
    key = f"{prefix}typed.txt"
    post = osp_s3.generate_presigned_post(ALIAS_BUCKET, key, ExpiresIn=300,
                                          Fields={"Content-Type": "text/plain", "x-amz-meta-color": "blue"},
                                          Conditions=[{"Content-Type": "text/plain"}, {"x-amz-meta-color": "blue"}])
    response = form_to(osp, post, file=("typed.txt", b"plain text\n"))
    assert response.status == 204, response
    head = backend_s3.head_object(Bucket=REAL_BUCKET, Key=key)
    assert (head["ContentType"], head["Metadata"]) == ("text/plain", {"color": "blue"})
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"plain text\n"


def test_a_16_mib_file_streams_through_unchanged(osp, osp_s3, backend_s3, journal, prefix):
    """A form is not buffered whole: a 16 MiB file part arrives at the backend byte-identical."""
    key = f"{prefix}big.bin"
    body = data(16 * 1024 * 1024, "big form")
    post = osp_s3.generate_presigned_post(ALIAS_BUCKET, key, ExpiresIn=300)
    response = form_to(osp, post, file=("big.bin", body), timeout=120)
    assert response.status == 204, response
    (entry,) = backend_posts(journal)
    assert entry["form"]["file_length"] == len(body)
    assert hashlib.sha256(stored_bytes(backend_s3, REAL_BUCKET, key)).hexdigest() == hashlib.sha256(body).hexdigest()


def test_a_form_sent_chunked_without_content_length_is_stored(osp, osp_s3, backend_s3, prefix):
    """`Transfer-Encoding: chunked` and no Content-Length: S3 takes such a form (only PUT needs a
    length); osp streams it on without knowing the size."""
    key = f"{prefix}chunked.bin"
    post = osp_s3.generate_presigned_post(ALIAS_BUCKET, key, ExpiresIn=300)
    status, answer = post_form_chunked("127.0.0.1", osp.port, f"/{ALIAS_BUCKET}", post["fields"], ("chunked.bin", FILE_BODY))
    assert status == 204, answer
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == FILE_BODY


def test_fields_after_the_file_are_refused_and_nothing_is_stored(osp, osp_s3, backend_s3, journal, prefix):
    """S3 ignores whatever follows the file part, but some backends apply it, and osp has checked
    nothing there: a `key` or an `x-amz-meta-*` after the file could move or decorate the upload past
    the policy. osp watches the file's end as it streams and, when another part follows, aborts the
    backend request before it is complete: 400 InvalidArgument, nothing stored under either key."""
    key, elsewhere = f"{prefix}signed-key", f"{prefix}elsewhere"
    post = osp_s3.generate_presigned_post(ALIAS_BUCKET, key, ExpiresIn=300)
    fields = list(post["fields"].items()) + [("file", ("f.bin", FILE_BODY)), ("key", elsewhere),
                                             ("x-amz-meta-late", "unchecked")]
    response = form_to(osp, post, fields=fields, file=None)
    assert_osp_error(response, 400, "InvalidArgument")
    assert b"after the file are not accepted" in response.body, response
    # The backend never had the whole form (it would have refused the late fields itself).
    assert backend_posts(journal) == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, elsewhere)
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


# -- refusals osp decides itself: the backend hears nothing ----------------------------------------

def _refusal_cases():
    """name → (form maker (osp_client, prefix, key) → (post, fields, file), status, code)."""
    file = ("f.txt", b"refused body")

    def v4(osp_client, prefix, key, **kwargs):
        return osp_client().generate_presigned_post(ALIAS_BUCKET, key, **{"ExpiresIn": 300, **kwargs})

    def sigv4_signature_tampered(osp_client, prefix, key):
        post = v4(osp_client, prefix, key)
        return post, {**post["fields"], "x-amz-signature": flip_hex(post["fields"]["x-amz-signature"])}, file

    def sigv2_signature_tampered(osp_client, prefix, key):
        post = osp_client("s3").generate_presigned_post(ALIAS_BUCKET, key, ExpiresIn=300)
        return post, {**post["fields"], "signature": flip_base64(post["fields"]["signature"])}, file

    def unknown_access_key(osp_client, prefix, key):
        post = osp_client(keys=("AKIDUNKNOWN00001", "whatever")).generate_presigned_post(
            ALIAS_BUCKET, key, ExpiresIn=300)
        return post, None, file

    def expired_policy(osp_client, prefix, key):
        return v4(osp_client, prefix, key, ExpiresIn=-10), None, file

    def key_outside_starts_with(osp_client, prefix, key):
        post = v4(osp_client, prefix, prefix + "uploads/${filename}",
                  Conditions=[["starts-with", "$key", f"{prefix}uploads/"]])
        return post, {**post["fields"], "key": key}, file  # key = …/refused, not under uploads/

    def field_not_in_policy(osp_client, prefix, key):
        post = v4(osp_client, prefix, key)
        return post, {**post["fields"], "x-amz-meta-extra": "not in the policy"}, file

    def field_name_not_a_token(osp_client, prefix, key):
        # Signed into the client's own policy, so only the name's spelling is wrong: osp would not
        # ask for s3:PutObjectAcl, and a lenient parser behind it might trim the name to x-amz-acl.
        post = v4(osp_client, prefix, key, Fields={"x-amz-acl ": "public-read"}, Conditions=[{"x-amz-acl ": "public-read"}])
        return post, None, file

    def no_file(osp_client, prefix, key):
        return v4(osp_client, prefix, key), None, None

    def anonymous(osp_client, prefix, key):
        post = v4(osp_client, prefix, key)
        return post, {"key": key}, file

    def fields_before_the_file_too_large(osp_client, prefix, key):
        post = v4(osp_client, prefix, key)  # x-ignore-* need no condition: only the size is wrong
        return post, {"x-ignore-pad": "p" * 70_000, **post["fields"]}, file  # osp's bound: 64 KiB

    return {
        "sigv4-signature-tampered": (sigv4_signature_tampered, 403, "SignatureDoesNotMatch"),
        "sigv2-signature-tampered": (sigv2_signature_tampered, 403, "SignatureDoesNotMatch"),
        "unknown-access-key": (unknown_access_key, 403, "InvalidAccessKeyId"),
        "expired-policy": (expired_policy, 403, "AccessDenied"),
        "key-outside-starts-with": (key_outside_starts_with, 403, "AccessDenied"),
        "field-not-in-policy": (field_not_in_policy, 403, "AccessDenied"),
        "field-name-not-a-token": (field_name_not_a_token, 400, "InvalidArgument"),
        "no-file-field": (no_file, 400, "InvalidArgument"),
        "anonymous-form": (anonymous, 403, "AccessDenied"),
        "fields-before-file-over-64-KiB": (fields_before_the_file_too_large, 400, "MaxPostPreDataLengthExceeded"),
    }


REFUSALS = _refusal_cases()


@pytest.mark.parametrize("case", REFUSALS)
def test_refused_forms_reach_nothing(osp, osp_client, backend_s3, journal, prefix, case):
    """Each of S3's POST Object refusals, answered by osp as an S3 error; nothing is forwarded and
    nothing stored: a bad signature (SigV4 hex or SigV2 base64), an unknown key, an expired policy,
    a key a `starts-with` condition does not allow, a field the policy does not name, a field name
    that is not an HTTP token (`x-amz-acl `), no `file`,
    no credentials at all, more than 64 KiB of fields before the file."""
    make, status, code = REFUSALS[case]
    key = f"{prefix}refused"
    post, fields, file = make(osp_client, prefix, key)
    journal.reset()
    response = form_to(osp, post, fields=fields, file=file)
    assert_osp_error(response, status, code)
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


@pytest.mark.parametrize("size, status, code", [(100, 204, None), (1, 204, None), (101, 400, "EntityTooLarge"),
                                               (0, 400, "EntityTooSmall"), (4 << 20, 400, "EntityTooLarge")])
def test_content_length_range_is_enforced_inclusively_by_osp(osp, osp_s3, backend_s3, journal, prefix,
                                                             size, status, code):
    """`["content-length-range", 1, 100]`: files of 1 and 100 bytes are stored; one of 101 bytes or
    4 MiB is 400 EntityTooLarge, an empty one 400 EntityTooSmall, stored nowhere. osp counts the file
    as it streams and refuses before the backend has the whole form, so the range holds whatever the
    backend makes of it: the backend never gets to judge the size (its journal has no verdict on the
    form). osp also passes the range on in the policy it signs for the backend, which counts too."""
    key = f"{prefix}ranged"
    post = osp_s3.generate_presigned_post(ALIAS_BUCKET, key, ExpiresIn=300,
                                          Conditions=[["content-length-range", 1, 100]])
    body = data(size, "ranged")
    response = form_to(osp, post, file=("ranged.bin", body))
    entries = backend_posts(journal)
    if status == 204:
        assert response.status == 204, response
        assert stored_bytes(backend_s3, REAL_BUCKET, key) == body
        (entry,) = entries
        assert [c[1:] for c in entry["form"]["conditions"]
                if isinstance(c, list) and c[0] == "content-length-range"] == [[1, 100]]
    else:
        assert (response.status, response.error_code) == (400, code), response
        assert not exists_at_backend(backend_s3, REAL_BUCKET, key)
        assert [e for e in entries if e.get("verdict") == "accepted"] == []
        assert [e.get("error") for e in entries if e.get("error") in ("EntityTooLarge", "EntityTooSmall")] == [], entries


# -- the policy engine judges the form's key --------------------------------------------------------

@pytest.fixture(scope="module")
def rules_osp(backend, workdir):
    """osp whose rules let alice PutObject under `allowed/` of proxy-bucket01, and nothing else."""
    if not os.access(processes.osp_binary(), os.X_OK):
        pytest.skip(f"osp binary not found at {processes.osp_binary()}")
    port = processes.free_port()
    config = policy_osp_config(port, backend.port, f"""  backend: rules
  rules:
    - {{principals: [alice], buckets: [{ALIAS_BUCKET}], prefix: "allowed/", actions: ["s3:PutObject"], effect: allow}}
""")
    server = processes.start_osp(config, port, workdir, _osp_env(), "osp-post-object-rules")
    _remember(server.process)
    try:
        yield server
    finally:
        processes.stop(server.process)


def test_policy_engine_allows_a_form_under_the_granted_prefix(rules_osp, backend_s3, journal, prefix):
    key = f"allowed/{prefix}x"
    post = s3_client(rules_osp.url, CLIENT_KEYS).generate_presigned_post(ALIAS_BUCKET, key, ExpiresIn=300)
    response = form_to(rules_osp, post)
    assert response.status == 204, response
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == FILE_BODY


def test_policy_engine_denies_a_correctly_signed_form_outside_the_grant(rules_osp, backend_s3, journal, prefix):
    """The client's own POST policy allows the key; osp's policy engine does not: 403 AccessDenied,
    and the backend hears nothing."""
    key = f"denied/{prefix}x"
    post = s3_client(rules_osp.url, CLIENT_KEYS).generate_presigned_post(ALIAS_BUCKET, key, ExpiresIn=300)
    response = form_to(rules_osp, post)
    assert_osp_error(response, 403, "AccessDenied")
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


# -- Expect: 100-continue ---------------------------------------------------------------------------

def _complete(received: bytes) -> bool:
    """Whether `received` holds a whole response: its head, and its Content-Length of body (a 1xx or
    204 has none)."""
    head, separator, rest = received.partition(b"\r\n\r\n")
    if not separator:
        return False
    response = parse_response(received)
    if response.status in (100, 204) or "content-length" not in response.headers:
        return True
    return len(rest) >= int(response.headers["content-length"])


def _post_with_expect(server, target: str, fields: dict, file: tuple, timeout: float = 30) -> tuple[bytes, Response]:
    """Send the head with `Expect: 100-continue`, wait (bounded) for the first answer, send the body
    only if that answer is 100 Continue, and return (the first answer's status line, the final response)."""
    body, content_type = encode_form(fields, file)
    head = (f"POST {target} HTTP/1.1\r\nHost: {server.host}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n").encode()
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(head)
        received = read_until(sock, b"", deadline, _complete)
        first_line = received.split(b"\r\n", 1)[0]
        if first_line.startswith(b"HTTP/1.1 100"):
            received = received.partition(b"\r\n\r\n")[2]
            sock.sendall(body)
            received = read_until(sock, received, deadline, _complete)
    return first_line, parse_response(received)


def test_expect_100_continue_is_answered_for_a_form_and_the_upload_succeeds(osp, osp_s3, backend_s3, prefix):
    """A form's credentials are in the body, so osp cannot judge the head alone: it answers 100
    Continue (clients that send Expect wait for it) and judges the form as it arrives."""
    key = f"{prefix}expect.bin"
    post = osp_s3.generate_presigned_post(ALIAS_BUCKET, key, ExpiresIn=300)
    first, final = _post_with_expect(osp, f"/{ALIAS_BUCKET}", post["fields"], ("expect.bin", FILE_BODY))
    assert first.startswith(b"HTTP/1.1 100"), first
    assert final.status == 204, final
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == FILE_BODY


def test_expect_100_continue_does_not_let_a_badly_signed_form_through(osp, osp_s3, backend_s3, journal, prefix):
    """The 100 Continue for a form promises nothing: a form with a bad signature sent that way (whether
    osp answered 100 first or not) is 403 SignatureDoesNotMatch, and nothing reaches the backend."""
    key = f"{prefix}expect-bad.bin"
    post = osp_s3.generate_presigned_post(ALIAS_BUCKET, key, ExpiresIn=300)
    fields = {**post["fields"], "x-amz-signature": flip_hex(post["fields"]["x-amz-signature"])}
    first, final = _post_with_expect(osp, f"/{ALIAS_BUCKET}", fields, ("expect.bin", FILE_BODY))
    assert_osp_error(final, 403, "SignatureDoesNotMatch")
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


# -- forms to a bucket reached with an IBM IAM token: the file goes on as a PUT ----------------------

@pytest.fixture(scope="module")
def iam_form_osp(bearer_backend, iam_server, workdir):
    """osp with IBM_BUCKET on the bearer backend (IBM IAM api key: no key to sign a form policy)."""
    server = start_ibm_osp(bearer_backend, iam_server, workdir, "osp-iam-forms")
    try:
        yield server
    finally:
        processes.stop(server.process)


@pytest.fixture(scope="module")
def iam_form_s3(iam_form_osp):
    return s3_client(iam_form_osp.url, CLIENT_KEYS)


def _iam_writes(bearer_journal, key: str) -> list[dict]:
    return [e for e in bearer_journal.requests_for(key) if e["method"] in ("PUT", "POST")]


def test_a_form_to_an_iam_bucket_is_stored_as_a_put_with_its_fields_as_headers(
        iam_form_osp, iam_form_s3, ibm_backend_s3, bearer_journal, prefix):
    """The file (which holds a boundary-like line) is stored byte for byte by one bearer-token PUT;
    Content-Type and metadata fields are the object's headers; the client's bucket is in the 201."""
    key = f"{prefix}form.bin"
    post = iam_form_s3.generate_presigned_post(
        IBM_BUCKET, key, ExpiresIn=300,
        Fields={"Content-Type": "text/plain", "x-amz-meta-color": "blue", "success_action_status": "201"},
        Conditions=[{"Content-Type": "text/plain"}, {"x-amz-meta-color": "blue"}, {"success_action_status": "201"}])
    response = form_to(iam_form_osp, post)
    assert response.status == 201, response
    assert ET.fromstring(response.body).findtext("Bucket") == IBM_BUCKET
    assert stored_bytes(ibm_backend_s3, IBM_BUCKET, key) == FILE_BODY
    head = ibm_backend_s3.head_object(Bucket=IBM_BUCKET, Key=key)
    assert (head["ContentType"], head["Metadata"]) == ("text/plain", {"color": "blue"})
    (write,) = _iam_writes(bearer_journal, key)
    assert (write["method"], write["auth"], write["verdict"]) == ("PUT", "bearer", "accepted"), write


@pytest.mark.parametrize("size", [0, 1, 3 << 20])
def test_files_of_any_size_reach_an_iam_bucket_whole(iam_form_osp, iam_form_s3, ibm_backend_s3, prefix, size):
    key = f"{prefix}sized"
    body = data(size, "iam form")
    post = iam_form_s3.generate_presigned_post(IBM_BUCKET, key, ExpiresIn=300)
    response = form_to(iam_form_osp, post, file=("f.bin", body), timeout=120)
    assert response.status == 204, response
    assert stored_bytes(ibm_backend_s3, IBM_BUCKET, key) == body


def _raw_form(server, post: dict, body_edit, fields=None, file=("f.bin", FILE_BODY)) -> Response:
    """The form as urllib3 encodes it, edited by `body_edit` before it is sent (Content-Length follows)."""
    body, content_type = encode_form(post["fields"] if fields is None else fields, file)
    body = body_edit(body)
    target = urlsplit(post["url"]).path
    return send("127.0.0.1", server.port, "POST", target,
                [("Host", server.host), ("Content-Type", content_type), ("Content-Length", str(len(body)))], body)


@pytest.mark.parametrize("edit, code", [
    (lambda body: body[:-2], "MalformedPOSTRequest"),          # no CRLF after the close: the length is off
    (lambda body: body + b"\r\n", "MalformedPOSTRequest"),     # an epilogue longer than the CRLF
])
def test_a_form_whose_close_is_not_where_its_length_says_stores_nothing(
        iam_form_osp, iam_form_s3, ibm_backend_s3, bearer_journal, prefix, edit, code):
    """The PUT's length comes from the form's Content-Length with the usual `--boundary--CRLF`
    close; a form that ends otherwise is refused and its PUT never completes."""
    key = f"{prefix}odd-close"
    post = iam_form_s3.generate_presigned_post(IBM_BUCKET, key, ExpiresIn=300)
    response = _raw_form(iam_form_osp, post, edit)
    assert_osp_error(response, 400, code)
    assert not exists_at_backend(ibm_backend_s3, IBM_BUCKET, key)
    assert [e for e in _iam_writes(bearer_journal, key) if e.get("verdict") == "accepted"] == []


def test_fields_after_the_file_are_refused_before_the_put_completes(
        iam_form_osp, iam_form_s3, ibm_backend_s3, bearer_journal, prefix):
    key = f"{prefix}late-fields"
    post = iam_form_s3.generate_presigned_post(IBM_BUCKET, key, ExpiresIn=300)
    fields = list(post["fields"].items()) + [("file", ("f.bin", FILE_BODY)), ("x-amz-meta-late", "unchecked")]
    response = form_to(iam_form_osp, post, fields=fields, file=None)
    assert_osp_error(response, 400, "InvalidArgument")
    assert not exists_at_backend(ibm_backend_s3, IBM_BUCKET, key)
    assert [e for e in _iam_writes(bearer_journal, key) if e.get("verdict") == "accepted"] == []


def test_content_length_range_holds_for_a_put_too(iam_form_osp, iam_form_s3, ibm_backend_s3, bearer_journal, prefix):
    key = f"{prefix}ranged"
    post = iam_form_s3.generate_presigned_post(IBM_BUCKET, key, ExpiresIn=300, Conditions=[["content-length-range", 1, 100]])
    response = form_to(iam_form_osp, post, file=("r.bin", data(101, "r")))
    assert_osp_error(response, 400, "EntityTooLarge")
    assert not exists_at_backend(ibm_backend_s3, IBM_BUCKET, key)


def test_a_form_field_that_would_make_the_put_a_copy_is_refused(
        iam_form_osp, iam_form_s3, ibm_backend_s3, bearer_journal, prefix):
    """A form's `x-amz-*` fields become the PUT's headers on a bearer-token bucket. A field
    `x-amz-copy-source` (the client signs its own policy, so it may hold any field) with an empty
    file made that PUT a copy of an object nothing authorized — any the bucket's token may read.
    Only object settings become headers now; such a field is 400, nothing sent."""
    ibm_backend_s3.put_object(Bucket=IBM_BUCKET, Key=f"{prefix}other-source", Body=b"not yours")
    key = f"{prefix}copied"
    source = f"/{IBM_BUCKET}/{prefix}other-source"
    post = iam_form_s3.generate_presigned_post(IBM_BUCKET, key, ExpiresIn=300, Fields={"x-amz-copy-source": source},
                                               Conditions=[{"x-amz-copy-source": source}])
    bearer_journal.reset()
    response = form_to(iam_form_osp, post, file=("empty.bin", b""))
    assert_osp_error(response, 400, "InvalidArgument")
    assert _iam_writes(bearer_journal, key) == []
    assert not exists_at_backend(ibm_backend_s3, IBM_BUCKET, key)


def test_what_a_put_cannot_carry_is_refused_with_nothing_sent(
        iam_form_osp, iam_form_s3, ibm_backend_s3, bearer_journal, prefix):
    """A form without Content-Length (411: the PUT needs its length first), tags (501: XML in a
    form, a query string on a PUT), a field value that is no header value (400) — none reaches the
    backend."""
    key = f"{prefix}refused"
    post = iam_form_s3.generate_presigned_post(IBM_BUCKET, key, ExpiresIn=300)
    status, _ = post_form_chunked("127.0.0.1", iam_form_osp.port, f"/{IBM_BUCKET}", post["fields"], ("c.bin", FILE_BODY))
    assert status == 411
    tagging = "<Tagging><TagSet><Tag><Key>t</Key><Value>1</Value></Tag></TagSet></Tagging>"
    tagged = iam_form_s3.generate_presigned_post(IBM_BUCKET, key, ExpiresIn=300, Fields={"tagging": tagging},
                                                 Conditions=[{"tagging": tagging}])
    assert_osp_error(form_to(iam_form_osp, tagged), 501, "NotImplemented")
    injected = "text/plain\r\nx-amz-acl: public-read"
    sneaky = iam_form_s3.generate_presigned_post(IBM_BUCKET, key, ExpiresIn=300, Fields={"Content-Type": injected},
                                                 Conditions=[{"Content-Type": injected}])
    assert_osp_error(form_to(iam_form_osp, sneaky), 400, "InvalidArgument")
    assert _iam_writes(bearer_journal, key) == []
    assert not exists_at_backend(ibm_backend_s3, IBM_BUCKET, key)

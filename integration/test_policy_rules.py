"""The `rules` policy backend: prefix grants with exceptions, enforced before anything is forwarded.

Policy under test (alice): read/write/list/delete under `team/` of proxy-bucket01, except `team/secret/`;
everything in open-bucket. bob has a key but no grant at all.
"""
from __future__ import annotations

import base64
import datetime
import hashlib
import socket

import botocore.exceptions
import pytest

from conftest import ALIAS_BUCKET, OPEN_BUCKET, REAL_BUCKET, REGION, _osp_env, _remember
from osptest import processes
from osptest.clients import BACKEND_KEYS, CLIENT_KEYS, botocore_signed, s3_client
from osptest.forms import post_form
from osptest.s3checks import exists_at_backend, refused, stored_bytes
from s3client import signer as sig
from s3client.http import send

BOB_KEYS = ("AKIDBOB00000001", "bob-secret-0001")
CAROL_KEYS = ("AKIDCAROL000001", "carol-secret-0001")


def _config(port: int, backend_port: int) -> str:
    keys = 'access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"'
    return f"""
server: {{bind: 127.0.0.1, http_port: {port}, threads: 2}}
buckets:
  {ALIAS_BUCKET}: {{host: 127.0.0.1, port: {backend_port}, region: {REGION}, backend_bucket: {REAL_BUCKET}, {keys}}}
  {OPEN_BUCKET}: {{host: 127.0.0.1, port: {backend_port}, region: {REGION}, {keys}}}
keystore:
  - {{access_key: "${{CLIENT_ACCESS_KEY}}", secret_key: "${{CLIENT_SECRET_KEY}}", principal: alice}}
  - {{access_key: {BOB_KEYS[0]}, secret_key: {BOB_KEYS[1]}, principal: bob}}
  - {{access_key: {CAROL_KEYS[0]}, secret_key: {CAROL_KEYS[1]}, principal: carol}}
authorization:
  backend: rules
  rules:
    - {{principals: [alice], buckets: [{ALIAS_BUCKET}], prefix: "team/", actions: [read, write, list, delete], effect: allow}}
    - {{principals: [alice], buckets: [{ALIAS_BUCKET}], prefix: "team/secret/", actions: ["*"], effect: deny}}
    - {{principals: [alice], buckets: [{ALIAS_BUCKET}], prefix: "team/top secret/", actions: ["*"], effect: deny}}
    - {{principals: [alice], buckets: [{OPEN_BUCKET}], actions: ["*"], effect: allow}}
    - {{principals: [carol], buckets: [{ALIAS_BUCKET}], prefix: "uploads/", actions: ["s3:PutObject", "s3:GetObject"], effect: allow}}
    - {{principals: [carol], buckets: [{OPEN_BUCKET}], actions: ["s3:CreateBucket"], effect: allow}}
"""


@pytest.fixture(scope="module")
def policy_osp(backend, workdir):
    port = processes.free_port()
    server = processes.start_osp(_config(port, backend.port), port, workdir, _osp_env(), "osp-rules")
    _remember(server.process)
    yield server
    processes.stop(server.process)


@pytest.fixture(scope="module")
def alice(policy_osp):
    return s3_client(policy_osp.url, CLIENT_KEYS)


@pytest.fixture(scope="module")
def bob(policy_osp):
    return s3_client(policy_osp.url, BOB_KEYS)


def test_allowed_prefix_works_end_to_end(alice, backend_s3, prefix):
    key = f"team/{prefix}report.csv"
    alice.put_object(Bucket=ALIAS_BUCKET, Key=key, Body=b"a,b\n")
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"a,b\n"
    assert alice.get_object(Bucket=ALIAS_BUCKET, Key=key)["Body"].read() == b"a,b\n"
    listed = alice.list_objects_v2(Bucket=ALIAS_BUCKET, Prefix=f"team/{prefix}")
    assert [o["Key"] for o in listed["Contents"]] == [key]
    alice.delete_object(Bucket=ALIAS_BUCKET, Key=key)
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


@pytest.mark.parametrize("key", ["team/secret/plan.txt", "other/file.txt", "teamx/file.txt", "team"])
def test_denied_keys_are_refused_and_the_backend_sees_nothing(alice, backend_s3, journal, key):
    assert refused(lambda: alice.put_object(Bucket=ALIAS_BUCKET, Key=key, Body=b"x")) == "AccessDenied"
    assert refused(lambda: alice.get_object(Bucket=ALIAS_BUCKET, Key=key)) == "AccessDenied"
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


def test_the_exception_holds_inside_the_allowed_prefix(alice, backend_s3, journal):
    backend_s3.put_object(Bucket=REAL_BUCKET, Key="team/secret/existing", Body=b"classified")
    journal.reset()
    assert refused(lambda: alice.get_object(Bucket=ALIAS_BUCKET, Key="team/secret/existing")) == "AccessDenied"
    assert refused(lambda: alice.delete_object(Bucket=ALIAS_BUCKET, Key="team/secret/existing")) == "AccessDenied"
    assert journal.journal() == []
    assert stored_bytes(backend_s3, REAL_BUCKET, "team/secret/existing") == b"classified"


def test_listing_outside_the_granted_prefix_is_refused(alice, journal):
    assert alice.list_objects_v2(Bucket=ALIAS_BUCKET, Prefix="team/")["ResponseMetadata"]["HTTPStatusCode"] == 200
    journal.reset()
    assert refused(lambda: alice.list_objects_v2(Bucket=ALIAS_BUCKET)) == "AccessDenied"
    assert refused(lambda: alice.list_objects_v2(Bucket=ALIAS_BUCKET, Prefix="other/")) == "AccessDenied"
    assert journal.journal() == []


def test_a_listing_prefix_with_a_raw_plus_is_refused(alice, policy_osp, backend_s3, journal):
    """`prefix=team/top+secret/` is `team/top secret/` to the backend (form decoding) but was
    `team/top+secret/` to osp, which the denial of `team/top secret/` does not cover: the listing
    showed the denied prefix. A raw `+` in a prefix is refused now; `%2B` and `%20` mean what they say."""
    backend_s3.put_object(Bucket=REAL_BUCKET, Key="team/top secret/plan", Body=b"x")
    signer = sig.RequestSigner(sig.Credentials(*CLIENT_KEYS, REGION), policy_osp.host)
    request = signer.prepare("GET", f"/{ALIAS_BUCKET}", query={"list-type": "2", "prefix": "team/top+secret/"})
    raw_plus = request.target.replace("%2B", "+")  # signed as %2B, as SigV4 canonicalises a raw +
    assert "top+secret" in raw_plus
    journal.reset()
    response = send("127.0.0.1", policy_osp.port, "GET", raw_plus, request.headers)
    assert (response.status, response.error_code) == (400, "InvalidArgument"), response
    assert journal.journal() == []
    assert refused(lambda: alice.list_objects_v2(Bucket=ALIAS_BUCKET, Prefix="team/top secret/")) == "AccessDenied"
    listed = alice.list_objects_v2(Bucket=ALIAS_BUCKET, Prefix="team/top+secret/")  # sent as %2B: a plus
    assert listed["KeyCount"] == 0


def test_a_key_with_a_raw_plus_is_refused_before_the_backend(policy_osp, journal):
    """AWS S3 reads a raw `+` in a path as a space (MinIO and this test backend as a plus): osp
    judged `team/top+secret/plan`, allowed under `team/`, while S3 would have served the denied
    `team/top secret/plan`. A raw `+` in a key or copy source is refused; `%2B` is a plus."""
    signer = sig.RequestSigner(sig.Credentials(*CLIENT_KEYS, REGION), policy_osp.host)
    journal.reset()
    for method, path, extra in [
        ("GET", f"/{ALIAS_BUCKET}/team/top+secret/plan", {}),
        ("PUT", f"/{ALIAS_BUCKET}/team/a+b", {}),
        ("PUT", f"/{ALIAS_BUCKET}/team/copy", {"x-amz-copy-source": f"/{ALIAS_BUCKET}/team/top+secret/plan"}),
    ]:
        # Signed as SigV4 canonicalises a raw + (%2B), sent raw: only the + is in question.
        request = signer.prepare(method, path.replace("+", "%2B"), headers=extra)
        target = request.target.replace("%2B", "+")
        response = send("127.0.0.1", policy_osp.port, method, target, request.headers, request.body)
        expected = (400, "InvalidArgument") if extra else (400, "InvalidURI")
        assert (response.status, response.error_code) == expected, (path, response)
    assert journal.journal() == []


def test_copy_from_a_denied_source_is_refused(alice, backend_s3, journal, prefix):
    backend_s3.put_object(Bucket=REAL_BUCKET, Key="team/secret/source", Body=b"secret source")
    journal.reset()
    code = refused(lambda: alice.copy_object(Bucket=ALIAS_BUCKET, Key=f"team/{prefix}stolen",
                                             CopySource={"Bucket": ALIAS_BUCKET, "Key": "team/secret/source"}))
    assert code == "AccessDenied"
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"team/{prefix}stolen")


def test_a_copy_source_hoisted_into_a_presigned_query_is_refused(policy_osp, backend_s3, journal, prefix):
    """A backend reading `x-amz-copy-source` from the query would copy a source osp never checked
    (here one alice may not read): osp takes the copy source from the header only and refuses the
    query's, with nothing forwarded."""
    backend_s3.put_object(Bucket=REAL_BUCKET, Key="team/secret/source", Body=b"secret source")
    signer = sig.RequestSigner(sig.Credentials(*CLIENT_KEYS, REGION), policy_osp.host)
    key = f"team/{prefix}stolen"
    journal.reset()
    for name in ("x-amz-copy-source", "X-Amz-Copy-Source"):
        target = signer.presign("PUT", f"/{ALIAS_BUCKET}/{key}", query={name: f"/{ALIAS_BUCKET}/team/secret/source"})
        response = send("127.0.0.1", policy_osp.port, "PUT", target, [("Host", policy_osp.host), ("Content-Length", "0")])
        assert (response.status, response.error_code) == (400, "InvalidArgument"), response
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


@pytest.mark.parametrize("operation", ["unknown=1", "tagging"])
def test_a_copy_source_on_a_request_that_is_no_copy_is_refused(policy_osp, backend_s3, journal, prefix, operation):
    """alice may do anything in open-bucket (`*`, which covers `s3:Unknown`), nothing under
    team/secret/. `PUT /open-bucket/k?unknown=1` is no operation osp knows, so osp never read its
    `x-amz-copy-source`, which went to the backend as sent — naming the backend's real bucket — and
    a backend that ignores the unknown parameter ran a copy of the denied source. A copy source on
    any request but CopyObject/UploadPartCopy is 400 now, nothing forwarded."""
    backend_s3.put_object(Bucket=REAL_BUCKET, Key="team/secret/source", Body=b"secret source")
    signer = sig.RequestSigner(sig.Credentials(*CLIENT_KEYS, REGION), policy_osp.host)
    key = f"{prefix}stolen"
    name, _, value = operation.partition("=")
    request = signer.prepare("PUT", f"/{OPEN_BUCKET}/{key}", query={name: value},
                             headers={"x-amz-copy-source": f"/{REAL_BUCKET}/team/secret/source"})
    journal.reset()
    response = send("127.0.0.1", policy_osp.port, "PUT", request.target, request.headers, request.body)
    assert (response.status, response.error_code) == (400, "InvalidArgument"), response
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, OPEN_BUCKET, key)


def test_copy_between_allowed_keys_works(alice, backend_s3, prefix):
    alice.put_object(Bucket=ALIAS_BUCKET, Key=f"team/{prefix}src", Body=b"copy me")
    alice.copy_object(Bucket=ALIAS_BUCKET, Key=f"team/{prefix}dst", CopySource={"Bucket": ALIAS_BUCKET, "Key": f"team/{prefix}src"})
    assert stored_bytes(backend_s3, REAL_BUCKET, f"team/{prefix}dst") == b"copy me"


@pytest.fixture(scope="module")
def carol(policy_osp):
    return s3_client(policy_osp.url, CAROL_KEYS)


def test_a_put_object_grant_stores_objects_but_sets_no_acl_tags_or_lock(carol, policy_osp, backend_s3, journal, prefix):
    """As in AWS, an ACL (`x-amz-acl`, `x-amz-grant-*`) set with a write needs `s3:PutObjectAcl`,
    tags (`x-amz-tagging`) `s3:PutObjectTagging`, a retention period `s3:PutObjectRetention` and a
    legal hold `s3:PutObjectLegalHold`: carol, granted `s3:PutObject` alone, stores objects but cannot
    make one public, tag it or lock it against deletion — not with PutObject,
    CreateMultipartUpload, CopyObject or a browser form. Each refusal reaches nothing."""
    plain = f"uploads/{prefix}plain"
    carol.put_object(Bucket=ALIAS_BUCKET, Key=plain, Body=b"plain")
    assert stored_bytes(backend_s3, REAL_BUCKET, plain) == b"plain"
    journal.reset()
    key = f"uploads/{prefix}public"
    attempts = {
        "put acl": lambda: carol.put_object(Bucket=ALIAS_BUCKET, Key=key, Body=b"x", ACL="public-read"),
        "put grant": lambda: carol.put_object(Bucket=ALIAS_BUCKET, Key=key, Body=b"x",
                                              GrantRead='uri="http://acs.amazonaws.com/groups/global/AllUsers"'),
        "put tags": lambda: carol.put_object(Bucket=ALIAS_BUCKET, Key=key, Body=b"x", Tagging="team=a"),
        "multipart acl": lambda: carol.create_multipart_upload(Bucket=ALIAS_BUCKET, Key=key, ACL="public-read"),
        "copy acl": lambda: carol.copy_object(Bucket=ALIAS_BUCKET, Key=key, ACL="public-read",
                                              CopySource={"Bucket": ALIAS_BUCKET, "Key": plain}),
        "put retention": lambda: carol.put_object(Bucket=ALIAS_BUCKET, Key=key, Body=b"x", ObjectLockMode="COMPLIANCE",
                                                  ObjectLockRetainUntilDate=datetime.datetime(2099, 1, 1)),
        "put legal hold": lambda: carol.put_object(Bucket=ALIAS_BUCKET, Key=key, Body=b"x", ObjectLockLegalHoldStatus="ON"),
        "multipart legal hold": lambda: carol.create_multipart_upload(Bucket=ALIAS_BUCKET, Key=key,
                                                                      ObjectLockLegalHoldStatus="ON"),
    }
    for name, attempt in attempts.items():
        assert refused(attempt) == "AccessDenied", name
    post = carol.generate_presigned_post(ALIAS_BUCKET, key, ExpiresIn=300, Fields={"acl": "public-read"},
                                         Conditions=[{"acl": "public-read"}])
    form = post_form("127.0.0.1", policy_osp.port, f"/{ALIAS_BUCKET}", post["fields"], ("f", b"x"),
                     host_header=policy_osp.host)
    assert (form.status, form.error_code) == (403, "AccessDenied"), form
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


def test_settings_hoisted_into_a_presigned_query_need_their_permissions_too(carol, policy_osp, backend_s3, journal, prefix):
    """SDKs hoist `x-amz-*` headers into presigned URLs' queries, and a backend may read them from
    there: carol's presigned PUT naming `x-amz-acl` (in either spelling) or `x-amz-tagging` in its
    query is refused like the header would be, with nothing forwarded; her plain presigned PUT works."""
    signer = sig.RequestSigner(sig.Credentials(*CAROL_KEYS, REGION), policy_osp.host)
    key = f"uploads/{prefix}hoisted"
    path = f"/{ALIAS_BUCKET}/{key}"
    for setting in ({"x-amz-acl": "public-read"}, {"X-Amz-Acl": "public-read"}, {"x-amz-tagging": "team=a"}):
        response = send("127.0.0.1", policy_osp.port, "PUT", signer.presign("PUT", path, query=setting),
                        [("Host", policy_osp.host), ("Content-Length", "1")], b"x")
        assert (response.status, response.error_code) == (403, "AccessDenied"), (setting, response)
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)
    response = send("127.0.0.1", policy_osp.port, "PUT", signer.presign("PUT", path),
                    [("Host", policy_osp.host), ("Content-Length", "1")], b"x")
    assert response.status == 200, response
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"x"


def test_a_create_bucket_grant_creates_only_plain_buckets(carol, journal):
    """CreateBucket that sets the bucket's ACL needs `s3:PutBucketAcl`, one that enables Object Lock
    `s3:PutBucketObjectLockConfiguration` and `s3:PutBucketVersioning`, one that chooses object
    ownership `s3:PutBucketOwnershipControls`, as in AWS: carol, granted `s3:CreateBucket` alone, is
    refused each with nothing forwarded, while her plain CreateBucket reaches the backend."""
    attempts = {
        "acl": dict(ACL="public-read-write"),
        "grant": dict(GrantWrite='uri="http://acs.amazonaws.com/groups/global/AllUsers"'),
        "object lock": dict(ObjectLockEnabledForBucket=True),
        "ownership": dict(ObjectOwnership="ObjectWriter"),
    }
    for name, extra in attempts.items():
        assert refused(lambda: carol.create_bucket(Bucket=OPEN_BUCKET, **extra)) == "AccessDenied", name
    assert journal.journal() == []
    try:
        carol.create_bucket(Bucket=OPEN_BUCKET)
    except botocore.exceptions.ClientError as error:  # the bucket exists: the backend's answer, not osp's
        assert error.response["Error"]["Code"] != "AccessDenied", error.response
    assert [(e["method"], e["path"]) for e in journal.journal()] == [("PUT", f"/{OPEN_BUCKET}")]


def test_the_delete_group_does_not_bypass_governance_retention(alice, backend_s3, journal, prefix):
    """As in AWS, a delete that overrides governance-mode retention (`x-amz-bypass-governance-retention`)
    needs `s3:BypassGovernanceRetention`, which `delete` does not include: alice may delete under
    `team/` but not with the bypass — DeleteObject and DeleteObjects refused, nothing forwarded."""
    key = f"team/{prefix}governed"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"kept")
    journal.reset()
    assert refused(lambda: alice.delete_object(Bucket=ALIAS_BUCKET, Key=key, BypassGovernanceRetention=True)) == "AccessDenied"
    assert refused(lambda: alice.delete_objects(Bucket=ALIAS_BUCKET, Delete={"Objects": [{"Key": key}]},
                                                BypassGovernanceRetention=True)) == "AccessDenied"
    assert journal.journal() == []
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"kept"
    alice.delete_objects(Bucket=ALIAS_BUCKET, Delete={"Objects": [{"Key": key}]})
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


def test_the_write_group_sets_acls_and_tags(alice, backend_s3, prefix):
    key = f"team/{prefix}tagged"
    alice.put_object(Bucket=ALIAS_BUCKET, Key=key, Body=b"tagged", ACL="private", Tagging="team=a")
    assert backend_s3.get_object_tagging(Bucket=REAL_BUCKET, Key=key)["TagSet"] == [{"Key": "team", "Value": "a"}]


def test_a_principal_without_grants_is_refused_everything(bob, journal):
    assert refused(lambda: bob.list_buckets()) == "AccessDenied"
    assert refused(lambda: bob.put_object(Bucket=OPEN_BUCKET, Key="x", Body=b"x")) == "AccessDenied"
    assert refused(lambda: bob.get_object(Bucket=ALIAS_BUCKET, Key="team/x")) == "AccessDenied"
    assert journal.journal() == []


def test_list_buckets_shows_only_buckets_with_a_grant(alice):
    names = [b["Name"] for b in alice.list_buckets()["Buckets"]]
    assert names == sorted([ALIAS_BUCKET, OPEN_BUCKET])


def test_expect_100_continue_for_a_denied_key_gets_403_and_never_100(policy_osp, journal):
    url = f"{policy_osp.url}/{ALIAS_BUCKET}/team/secret/upload"
    target, headers = botocore_signed("PUT", url, CLIENT_KEYS, body=b"0123456789",
                                      headers={"Expect": "100-continue"})
    lines = [f"PUT {target} HTTP/1.1"] + [f"{k}: {v}" for k, v in headers] + ["", ""]
    with socket.create_connection(("127.0.0.1", policy_osp.port), timeout=10) as conn:
        conn.sendall("\r\n".join(lines).encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert b"100 Continue" not in answer
    assert journal.journal() == []


def test_aws_cli_allowed_and_denied(policy_osp, tmp_path, backend_s3, prefix):
    from osptest.clients import AwsCli

    cli = AwsCli(policy_osp.url, CLIENT_KEYS, str(tmp_path))
    local = tmp_path / "f.txt"
    local.write_bytes(b"cli body")
    ok = cli("s3", "cp", str(local), f"s3://{ALIAS_BUCKET}/team/{prefix}cli.txt", check=False)
    assert ok.returncode == 0, ok.stderr
    assert stored_bytes(backend_s3, REAL_BUCKET, f"team/{prefix}cli.txt") == b"cli body"
    denied = cli("s3", "cp", str(local), f"s3://{ALIAS_BUCKET}/team/secret/{prefix}cli.txt", check=False)
    assert denied.returncode != 0 and "AccessDenied" in denied.stderr
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"team/secret/{prefix}cli.txt")


def test_delete_objects_with_one_denied_key_deletes_nothing(alice, backend_s3, journal, prefix):
    keys = [f"team/{prefix}d1", f"team/{prefix}d2", "team/secret/keep-me"]
    for key in keys:
        backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"x")
    journal.reset()
    code = refused(lambda: alice.delete_objects(Bucket=ALIAS_BUCKET, Delete={"Objects": [{"Key": k} for k in keys]}))
    assert code == "AccessDenied"
    assert journal.journal() == []
    assert all(exists_at_backend(backend_s3, REAL_BUCKET, key) for key in keys)


@pytest.mark.parametrize("shape, status, code", [
    # XML every parser reads alike: osp reads the denied key too, and refuses it
    ('<Object ><Key>{denied}</Key></Object>', 403, "AccessDenied"),
    ('<Object><Key >{denied}</Key></Object>', 403, "AccessDenied"),
    ('<Object><Key>{denied}</Key></Object   >', 403, "AccessDenied"),
    # XML parsers may read differently: refused as such
    ('<Object><Key>{allowed}</Key><Key>{denied}</Key></Object>', 400, "MalformedXML"),
    ('<Object><Key>{allowed}</Key><s3:Key xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/">{denied}</s3:Key></Object>',
     400, "MalformedXML"),
    ('<Object><?pi ?><Key>{denied}</Key></Object>', 400, "MalformedXML"),
])
def test_delete_objects_is_read_as_the_backend_reads_it(alice, policy_osp, backend_s3, journal, prefix, shape, status, code):
    """A DeleteObjects body is authorized key by key, so osp must read it as the backend's XML
    parser will. `<Object >` (white space in a tag) once hid a key from osp that the backend then
    deleted; now osp reads such XML as any parser does and refuses the denied key, and refuses XML
    that parsers may read differently (a second Key, a prefixed Key, a processing instruction) —
    nothing forwarded either way, even when every key the old scan saw was allowed."""
    allowed, denied = f"team/{prefix}ok", "team/secret/keep-me-too"
    for key in (allowed, denied):
        backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"x")
    body = (f'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>{allowed}</Key></Object>'
            + shape.format(allowed=allowed, denied=denied) + "</Delete>").encode()
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    target, headers = botocore_signed("POST", f"{policy_osp.url}/{ALIAS_BUCKET}?delete", CLIENT_KEYS, body=body,
                                      headers={"Content-MD5": md5, "Content-Type": "application/xml"})
    journal.reset()
    response = send("127.0.0.1", policy_osp.port, "POST", target, headers, body)
    assert (response.status, response.error_code) == (status, code), response
    assert journal.journal() == []
    assert exists_at_backend(backend_s3, REAL_BUCKET, denied) and exists_at_backend(backend_s3, REAL_BUCKET, allowed)


def test_delete_objects_with_only_allowed_keys_deletes_them(alice, backend_s3, prefix):
    keys = [f"team/{prefix}e1", f"team/{prefix}e 2+x"]
    for key in keys:
        backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"x")
    answer = alice.delete_objects(Bucket=ALIAS_BUCKET, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in answer["Deleted"]) == sorted(keys)
    assert not any(exists_at_backend(backend_s3, REAL_BUCKET, key) for key in keys)


def test_a_select_restore_is_refused_and_a_plain_restore_passes(alice, policy_osp, backend_s3, journal, prefix):
    """A SELECT restore writes its query's result to an `OutputLocation` — another bucket and prefix,
    which only `s3:RestoreObject` on the source was asked for and the backend would write with osp's
    key. osp reads the restore body first (strictly: `RestoreObjectRequest`): a SELECT restore is 501
    with nothing forwarded, a body that could be read as one is 400, a plain restore goes on to the
    backend (which answers for its object: here InvalidObjectState, the object is not archived)."""
    key = f"{prefix}archived.csv"
    backend_s3.put_object(Bucket=OPEN_BUCKET, Key=key, Body=b"a,b\n")
    select = {
        "Type": "SELECT",
        "Tier": "Standard",
        "SelectParameters": {
            "InputSerialization": {"CSV": {}},
            "ExpressionType": "SQL",
            "Expression": "SELECT * FROM object",
            "OutputSerialization": {"CSV": {}},
        },
        "OutputLocation": {"S3": {"BucketName": ALIAS_BUCKET, "Prefix": "team/secret/"}},
    }
    journal.reset()
    assert refused(lambda: alice.restore_object(Bucket=OPEN_BUCKET, Key=key, RestoreRequest=select)) == "NotImplemented"
    assert journal.journal() == []

    signer = sig.RequestSigner(sig.Credentials(*CLIENT_KEYS, REGION), policy_osp.host)
    hidden = b"<RestoreRequest><Days>1</Days><!-- --><OutputLocation><S3/></OutputLocation></RestoreRequest>"
    request = signer.prepare("POST", f"/{OPEN_BUCKET}/{key}", query={"restore": ""}, body=hidden)
    response = send("127.0.0.1", policy_osp.port, "POST", request.target, request.headers, request.body)
    assert (response.status, response.error_code) == (400, "MalformedXML"), response
    assert journal.journal() == []

    plain = {"Days": 1, "GlacierJobParameters": {"Tier": "Standard"}}
    assert refused(lambda: alice.restore_object(Bucket=OPEN_BUCKET, Key=key, RestoreRequest=plain)) == "InvalidObjectState"
    assert [entry["method"] for entry in journal.journal()] == ["POST"]

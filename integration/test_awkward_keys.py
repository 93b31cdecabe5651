"""Keys that break naive canonicalisation: each must be stored under exactly the same key at the backend."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from conftest import ALIAS_BUCKET, OPEN_BUCKET, REAL_BUCKET, _serve_osp
from osptest.clients import CLIENT_KEYS, s3_client
from osptest.s3checks import exists_at_backend, stored_bytes
from s3client import signer as sig
from s3client.http import send_prepared

pytestmark = pytest.mark.usefixtures("osp")

AWKWARD_KEYS = ["a+b", "a b", "a%20b", "x@y", "(p)", "eq=", "amp&", "c:d", "co,ma", "semi;", "$d", "ex!",
                "st*r", "q'uote", "ü/日本", "dir//double", "trailing/", "~tilde", "a?b", "hash#", "back\\slash",
                "dots.../seg", "..dots/seg", "pct%2Fslash", "brackets[]{}", "caret^|`"]
# `.` and `..` segments: refused by default (a path normaliser between osp and the data would move
# them), stored literally with `server.dot_segment_keys: literal`.
DOT_SEGMENT_KEYS = ["dot/./seg", "dot/../seg", "seg/..", "./seg"]


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_boto3_put_get_list_of_awkward_key(osp_s3, backend_s3, prefix, key):
    full = prefix + key
    osp_s3.put_object(Bucket=ALIAS_BUCKET, Key=full, Body=full.encode())
    assert stored_bytes(backend_s3, REAL_BUCKET, full) == full.encode()
    assert osp_s3.get_object(Bucket=ALIAS_BUCKET, Key=full)["Body"].read() == full.encode()
    assert osp_s3.head_object(Bucket=ALIAS_BUCKET, Key=full)["ContentLength"] == len(full.encode())
    listed = [o["Key"] for o in osp_s3.list_objects_v2(Bucket=ALIAS_BUCKET, Prefix=prefix)["Contents"]]
    assert listed == [full]
    listed_by_key_prefix = osp_s3.list_objects_v2(Bucket=ALIAS_BUCKET, Prefix=full)["Contents"]
    assert [o["Key"] for o in listed_by_key_prefix] == [full]


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_our_signer_put_of_awkward_key_via_wildcard_route(osp, backend_s3, prefix, key):
    full = prefix + key
    request = sig.RequestSigner(sig.Credentials(*CLIENT_KEYS), osp.host).prepare(
        "PUT", f"/{OPEN_BUCKET}/{sig.encode_key(full)}", body=b"ours", payload_mode=sig.SIGNED_CHUNKS)
    response = send_prepared("127.0.0.1", osp.port, request)
    assert response.status == 200, response
    assert stored_bytes(backend_s3, OPEN_BUCKET, full) == b"ours"


def test_awkward_keys_via_aws_cli_cp_and_ls(aws_cli, backend_s3, workdir, prefix):
    import os

    source = os.path.join(workdir, "awkward-source")
    with open(source, "wb") as handle:
        handle.write(b"cli awkward")
    keys = ["a+b c", "x@y(p)", "eq=amp&", "ü 日本"]
    for key in keys:
        aws_cli("s3", "cp", source, f"s3://{ALIAS_BUCKET}/{prefix}{key}")
        assert stored_bytes(backend_s3, REAL_BUCKET, prefix + key) == b"cli awkward"
    listing = aws_cli("s3", "ls", f"s3://{ALIAS_BUCKET}/{prefix}").stdout
    for key in keys:
        assert key in listing


def test_listing_with_awkward_prefix_delimiter_and_start_after(osp_s3, backend_s3, prefix):
    base = prefix + "p+q r=/"
    for name in ("1", "2", "sub@/x", "sub@/y"):
        backend_s3.put_object(Bucket=REAL_BUCKET, Key=base + name, Body=b".")
    page = osp_s3.list_objects_v2(Bucket=ALIAS_BUCKET, Prefix=base, Delimiter="/", StartAfter=base + "1")
    assert [o["Key"] for o in page["Contents"]] == [base + "2"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == [base + "sub@/"]


@pytest.fixture(scope="module")
def literal_osp(backend, workdir):
    """osp with `dot_segment_keys: literal`: keys are stored as S3 stores them, dot segments too."""
    yield from _serve_osp(backend, workdir, "osp-literal-dots", with_wildcard=True,
                          server_options="dot_segment_keys: literal")


@pytest.mark.parametrize("key", DOT_SEGMENT_KEYS)
def test_dot_segment_keys_are_refused_by_default(osp_s3, backend_s3, prefix, key):
    full = prefix + key
    with pytest.raises(ClientError) as refused:
        osp_s3.put_object(Bucket=ALIAS_BUCKET, Key=full, Body=b"x")
    assert refused.value.response["Error"]["Code"] == "InvalidArgument"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert not exists_at_backend(backend_s3, REAL_BUCKET, full)
    with pytest.raises(ClientError) as copy_refused:
        osp_s3.copy_object(Bucket=ALIAS_BUCKET, Key=prefix + "copy", CopySource={"Bucket": ALIAS_BUCKET, "Key": full})
    assert copy_refused.value.response["Error"]["Code"] == "InvalidArgument"


@pytest.mark.parametrize("key", DOT_SEGMENT_KEYS)
def test_dot_segment_keys_round_trip_when_taken_literally(literal_osp, backend_s3, prefix, key):
    client = s3_client(literal_osp.url, CLIENT_KEYS)
    full = prefix + key
    client.put_object(Bucket=ALIAS_BUCKET, Key=full, Body=full.encode())
    assert stored_bytes(backend_s3, REAL_BUCKET, full) == full.encode()
    assert client.get_object(Bucket=ALIAS_BUCKET, Key=full)["Body"].read() == full.encode()
    client.copy_object(Bucket=ALIAS_BUCKET, Key=full + "-copy", CopySource={"Bucket": ALIAS_BUCKET, "Key": full})
    assert stored_bytes(backend_s3, REAL_BUCKET, full + "-copy") == full.encode()
    listed = [o["Key"] for o in client.list_objects_v2(Bucket=ALIAS_BUCKET, Prefix=prefix)["Contents"]]
    assert sorted(listed) == sorted([full, full + "-copy"])

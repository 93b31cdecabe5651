"""Bucket-level operations pass through osp (via the `*` route and the alias) and land at the backend."""
from __future__ import annotations

import pytest

from conftest import ALIAS_BUCKET, REAL_BUCKET

pytestmark = pytest.mark.usefixtures("osp")

BUCKET = "osp-bucket-ops"


@pytest.fixture(scope="module")
def bucket(backend_s3):
    try:
        backend_s3.create_bucket(Bucket=BUCKET)
    except backend_s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    return BUCKET


def test_versioning_is_set_through_osp_and_seen_at_the_backend(osp_s3, backend_s3, bucket):
    osp_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert backend_s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert osp_s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    first = osp_s3.put_object(Bucket=bucket, Key="v", Body=b"one")["VersionId"]
    osp_s3.put_object(Bucket=bucket, Key="v", Body=b"two")
    versions = osp_s3.list_object_versions(Bucket=bucket, Prefix="v")["Versions"]
    assert len(versions) == 2
    assert osp_s3.get_object(Bucket=bucket, Key="v", VersionId=first)["Body"].read() == b"one"


def test_bucket_tagging_round_trips(osp_s3, backend_s3, bucket):
    tags = [{"Key": "team", "Value": "storage"}, {"Key": "cost centre", "Value": "a+b=c"}]
    osp_s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert sorted(backend_s3.get_bucket_tagging(Bucket=bucket)["TagSet"], key=str) == sorted(tags, key=str)
    assert sorted(osp_s3.get_bucket_tagging(Bucket=bucket)["TagSet"], key=str) == sorted(tags, key=str)


def test_bucket_cors_round_trips(osp_s3, backend_s3, bucket):
    rule = {"AllowedMethods": ["GET", "PUT"], "AllowedOrigins": ["https://example.com"],
            "AllowedHeaders": ["*"], "MaxAgeSeconds": 300}
    osp_s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
    stored = backend_s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]
    assert stored["AllowedOrigins"] == ["https://example.com"]
    assert sorted(stored["AllowedMethods"]) == ["GET", "PUT"]


def test_bucket_lifecycle_round_trips(osp_s3, backend_s3, bucket):
    rule = {"ID": "expire-tmp", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled", "Expiration": {"Days": 3}}
    osp_s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    stored = backend_s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [(r["ID"], r["Expiration"]["Days"]) for r in stored] == [("expire-tmp", 3)]


def test_bucket_acl_get_and_put(osp_s3, backend_s3, bucket):
    osp_s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    grants = backend_s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert any(g["Permission"] == "READ" and g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)
    assert osp_s3.get_bucket_acl(Bucket=bucket)["Grants"]


def test_object_acl_get_and_put_through_the_alias(osp_s3, backend_s3, prefix):
    osp_s3.put_object(Bucket=ALIAS_BUCKET, Key=f"{prefix}acl", Body=b"x")
    osp_s3.put_object_acl(Bucket=ALIAS_BUCKET, Key=f"{prefix}acl", ACL="public-read")
    grants = backend_s3.get_object_acl(Bucket=REAL_BUCKET, Key=f"{prefix}acl")["Grants"]
    assert any(g["Permission"] == "READ" and g["Grantee"].get("URI", "").endswith("AllUsers") for g in grants)


def test_head_bucket_and_location_through_the_alias(osp_s3):
    assert osp_s3.head_bucket(Bucket=ALIAS_BUCKET)["ResponseMetadata"]["HTTPStatusCode"] == 200
    osp_s3.get_bucket_location(Bucket=ALIAS_BUCKET)


def test_multipart_upload_listing_and_abort_through_the_alias(osp_s3, backend_s3, prefix):
    key = f"{prefix}aborted"
    upload_id = osp_s3.create_multipart_upload(Bucket=ALIAS_BUCKET, Key=key)["UploadId"]
    osp_s3.upload_part(Bucket=ALIAS_BUCKET, Key=key, UploadId=upload_id, PartNumber=1, Body=b"p" * 1000)
    parts = osp_s3.list_parts(Bucket=ALIAS_BUCKET, Key=key, UploadId=upload_id)["Parts"]
    assert [p["Size"] for p in parts] == [1000]
    uploads = backend_s3.list_multipart_uploads(Bucket=REAL_BUCKET, Prefix=prefix).get("Uploads", [])
    assert [u["UploadId"] for u in uploads] == [upload_id]
    osp_s3.abort_multipart_upload(Bucket=ALIAS_BUCKET, Key=key, UploadId=upload_id)
    assert not backend_s3.list_multipart_uploads(Bucket=REAL_BUCKET, Prefix=prefix).get("Uploads")

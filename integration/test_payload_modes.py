"""Every x-amz-content-sha256 payload mode through osp, at the sizes where framing bugs hide.

The signed-chunk requests come from our own signer (s3client), an implementation independent of both
botocore and osp. The object read back from the backend must be exactly the bytes sent, with no
aws-chunked framing and no `aws-chunked` content-encoding left on it.
"""
from __future__ import annotations

import pytest

from conftest import ALIAS_BUCKET, REAL_BUCKET
from osptest.clients import CLIENT_KEYS, force_trailer_checksums
from osptest.s3checks import data, stored_bytes
from s3client import signer as sig
from s3client.http import send_prepared

pytestmark = pytest.mark.usefixtures("osp")

SIZES = [0, 1, 64 * 1024, 1024 * 1024 + 3]


@pytest.fixture
def osp_signer(osp) -> sig.RequestSigner:
    return sig.RequestSigner(sig.Credentials(*CLIENT_KEYS), osp.host)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
@pytest.mark.parametrize("mode", sig.PAYLOAD_MODES)
def test_put_in_every_payload_mode_stores_exactly_the_decoded_bytes(osp, osp_signer, backend_s3, journal,
                                                                     prefix, mode, size):
    key = f"{prefix}obj"
    body = data(size, mode)
    request = osp_signer.prepare("PUT", f"/{ALIAS_BUCKET}/{sig.encode_key(key)}", body=body, payload_mode=mode,
                                 chunk_size=64 * 1024, headers={"Content-Type": "application/octet-stream"})
    response = send_prepared("127.0.0.1", osp.port, request)
    assert response.status == 200, response
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == body
    head = backend_s3.head_object(Bucket=REAL_BUCKET, Key=key)
    assert head["ContentLength"] == size
    assert "aws-chunked" not in head.get("ContentEncoding", "")
    puts = [e for e in journal.journal() if e["method"] == "PUT" and e["verdict"] == "accepted"]
    assert [e["decoded_length"] for e in puts] == [size]


@pytest.mark.parametrize("mode", [sig.SIGNED_CHUNKS, sig.SIGNED_CHUNKS_TRAILER, sig.UNSIGNED_TRAILER])
def test_chunked_upload_part_is_stored_decoded(osp, osp_signer, osp_s3, backend_s3, prefix, mode):
    key = f"{prefix}mp"
    upload_id = osp_s3.create_multipart_upload(Bucket=ALIAS_BUCKET, Key=key)["UploadId"]
    part = data(5 * 1024 * 1024 + 1, mode)
    request = osp_signer.prepare("PUT", f"/{ALIAS_BUCKET}/{sig.encode_key(key)}", body=part, payload_mode=mode,
                                 query={"partNumber": "1", "uploadId": upload_id}, chunk_size=1024 * 1024)
    response = send_prepared("127.0.0.1", osp.port, request)
    assert response.status == 200, response
    etag = response.headers["etag"]
    osp_s3.complete_multipart_upload(Bucket=ALIAS_BUCKET, Key=key, UploadId=upload_id,
                                     MultipartUpload={"Parts": [{"ETag": etag, "PartNumber": 1}]})
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == part


def test_content_encoding_besides_aws_chunked_is_kept(osp, osp_signer, backend_s3, prefix):
    key = f"{prefix}gz"
    request = osp_signer.prepare("PUT", f"/{ALIAS_BUCKET}/{key}", body=b"\x1f\x8b pretend gzip",
                                 headers={"Content-Encoding": "gzip"}, payload_mode=sig.SIGNED_CHUNKS)
    assert send_prepared("127.0.0.1", osp.port, request).status == 200
    head = backend_s3.head_object(Bucket=REAL_BUCKET, Key=key)
    assert head["ContentEncoding"] == "gzip"
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == b"\x1f\x8b pretend gzip"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
def test_botocore_default_unsigned_trailer_upload(osp_client, backend_s3, journal, prefix, size):
    """What botocore >= 1.36 sends over TLS: aws-chunked with a CRC32 trailer, HTTP chunked framing."""
    client = osp_client()
    force_trailer_checksums(client)
    body = data(size, "trailer")
    client.put_object(Bucket=ALIAS_BUCKET, Key=f"{prefix}t", Body=body)
    assert stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}t") == body


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s}B")
def test_botocore_hex_payload_with_crc32_header(osp_s3, backend_s3, journal, prefix, size):
    body = data(size, "hex")
    osp_s3.put_object(Bucket=ALIAS_BUCKET, Key=f"{prefix}h", Body=body)
    assert stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}h") == body
    (put,) = [e for e in journal.journal() if e["method"] == "PUT"]
    assert put["headers"].get("x-amz-checksum-crc32"), "the client's checksum header must reach the backend"


def test_trailer_upload_file_multipart_through_osp(osp_client, backend_s3, workdir, prefix):
    from boto3.s3.transfer import TransferConfig

    from osptest.clients import temp_file

    client = osp_client()
    force_trailer_checksums(client)
    path = temp_file(workdir, 20 * 1024 * 1024 + 7, seed=21)
    client.upload_file(path, ALIAS_BUCKET, f"{prefix}big",
                       Config=TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024))
    with open(path, "rb") as handle:
        assert stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}big") == handle.read()

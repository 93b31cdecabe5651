"""Assertions about what the backend holds and what osp answered."""
from __future__ import annotations

import hashlib

import pytest
from botocore.exceptions import ClientError

from s3client.http import Response


def refused(call) -> str:
    """The S3 error code of a boto3 call that must fail (the test fails if it succeeds)."""
    with pytest.raises(ClientError) as error:
        call()
    return error.value.response["Error"]["Code"]


def stored_bytes(backend_s3, bucket: str, key: str) -> bytes:
    """The object's bytes read straight from the backend (never through osp)."""
    return backend_s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def exists_at_backend(backend_s3, bucket: str, key: str) -> bool:
    try:
        backend_s3.head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as error:
        if error.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return False
        raise


def data(size: int, salt: str = "") -> bytes:
    """Deterministic, non-repeating-looking test bytes of exactly `size` bytes."""
    block = hashlib.sha256(f"{size}:{salt}".encode()).digest()
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(block + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


def assert_s3_error(response: Response, status: int, code: str) -> None:
    """An S3 XML error with this status and code, carrying a request id."""
    assert (response.status, response.error_code) == (status, code), response
    assert response.headers.get("x-amz-request-id"), f"no x-amz-request-id in {response.headers}"
    assert b"<RequestId>" in response.body, response


def assert_osp_error(response: Response, status: int | tuple[int, ...], code: str | tuple[str, ...]) -> None:
    """An S3 XML error osp produced itself: one of these statuses and codes, `Content-Type:
    application/xml`, and a request id in the header and in the body."""
    statuses = status if isinstance(status, tuple) else (status,)
    codes = code if isinstance(code, tuple) else (code,)
    assert response.status in statuses and response.error_code in codes, response
    assert response.headers.get("content-type", "").startswith("application/xml"), response.headers
    assert response.headers.get("x-amz-request-id"), f"no x-amz-request-id in {response.headers}"
    assert b"<RequestId>" + response.headers["x-amz-request-id"].encode() + b"</RequestId>" in response.body, response


def flip_chunk_signature(body: bytes, chunk_number: int) -> bytes:
    """An aws-chunked body with one hex digit of chunk `chunk_number`'s (1-based) signature changed."""
    marker = b";chunk-signature="
    position = -1
    for _ in range(chunk_number):
        position = body.index(marker, position + 1)
    at = position + len(marker)
    return body[:at] + (b"0" if body[at:at + 1] != b"0" else b"1") + body[at + 1:]

"""A small, independent S3 client for tests: SigV4 signing, aws-chunked encoders, raw HTTP.

It shares no code with `s3backend` (nor botocore) on purpose, so that a canonicalisation mistake in one
is not mirrored by the other. It builds requests whose target is already in canonical form.
"""
from .signer import Credentials, PreparedRequest, RequestSigner, amz_now, encode_key
from .http import Response, send, send_raw

__all__ = ["Credentials", "PreparedRequest", "RequestSigner", "Response", "amz_now", "encode_key",
           "send", "send_raw"]

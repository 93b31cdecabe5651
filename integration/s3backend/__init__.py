"""A signature-verifying S3 backend for integration tests.

moto's S3 (in-process WSGI) behind an independent SigV4 verifier written from the AWS specification,
so that a gateway which re-signs requests wrongly — or forwards aws-chunked framing as object data —
is refused here instead of silently storing the wrong bytes. See README.md in the parent directory.
"""

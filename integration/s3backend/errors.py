"""S3 error responses the verifier answers with (rendered like S3 itself does)."""
from __future__ import annotations

import secrets
from xml.sax.saxutils import escape


class S3Refusal(Exception):
    """A request the backend refuses before it reaches moto; rendered as S3 XML."""

    def __init__(self, status: int, code: str, message: str, **details: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def access_denied(message: str = "Access Denied", **details: str) -> S3Refusal:
    return S3Refusal(403, "AccessDenied", message, **details)


def signature_mismatch(message: str, **details: str) -> S3Refusal:
    return S3Refusal(403, "SignatureDoesNotMatch", message, **details)


def incomplete_body(message: str) -> S3Refusal:
    return S3Refusal(400, "IncompleteBody", message)


_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    411: "Length Required",
    501: "Not Implemented",
    503: "Service Unavailable",
}


def new_request_id() -> str:
    return secrets.token_hex(8).upper()


def render(refusal: S3Refusal, request_id: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """The WSGI status line, headers and XML body for a refusal."""
    parts = [f"<Code>{escape(refusal.code)}</Code>", f"<Message>{escape(refusal.message)}</Message>"]
    for name, value in refusal.details.items():
        parts.append(f"<{name}>{escape(value)}</{name}>")
    parts.append(f"<RequestId>{request_id}</RequestId>")
    parts.append("<HostId>s3backend</HostId>")
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(parts) + "</Error>").encode()
    status = f"{refusal.status} {_REASONS.get(refusal.status, 'Error')}"
    headers = [
        ("Content-Type", "application/xml"),
        ("Content-Length", str(len(body))),
        ("x-amz-request-id", request_id),
    ]
    return status, headers, body

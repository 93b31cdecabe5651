"""Browser form uploads (S3 POST Object): encoding a form as a page would submit it, and tampering
with its signed fields."""
from __future__ import annotations

import base64

import urllib3

from s3client.http import TIMEOUT, Response, send

def encode_form(fields, file: tuple | None = None) -> tuple[bytes, str]:
    """`fields` (a dict or (name, value) pairs, in order) and then the `file` part, as
    multipart/form-data: (body, Content-Type header value). urllib3's encoder, as a browser would.
    `file`: (filename, content) or (filename, content, content type)."""
    items = list(fields.items()) if isinstance(fields, dict) else list(fields)
    if file is not None:
        items.append(("file", file))
    return urllib3.encode_multipart_formdata(items)


def post_form(host: str, port: int, target: str, fields, file: tuple | None = None, host_header: str | None = None,
              headers: list[tuple[str, str]] | None = None, timeout: float = TIMEOUT) -> Response:
    """POST the form to `target` with http.client: Host, Content-Type, Content-Length (and `headers`)."""
    body, content_type = encode_form(fields, file)
    all_headers = [("Host", host_header or f"{host}:{port}"), ("Content-Type", content_type),
                   ("Content-Length", str(len(body)))] + list(headers or [])
    return send(host, port, "POST", target, all_headers, body, timeout=timeout)


def post_form_chunked(host: str, port: int, target: str, fields, file: tuple, piece: int = 4096,
                      timeout: float = TIMEOUT) -> tuple[int, bytes]:
    """POST the form with `Transfer-Encoding: chunked` (chunks of `piece` bytes) and no Content-Length,
    as a client streaming a form of unknown size does: (status, response body)."""
    import http.client

    body, content_type = encode_form(fields, file)
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("POST", target, body=(body[i:i + piece] for i in range(0, len(body), piece)),
                           headers={"Content-Type": content_type}, encode_chunked=True)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def flip_hex(value: str) -> str:
    """A hex signature with its first digit changed."""
    return ("1" if value[0] != "1" else "2") + value[1:]


def flip_base64(value: str) -> str:
    """A base64 signature (SigV2) that decodes to different bytes of the same length."""
    raw = bytearray(base64.b64decode(value))
    raw[0] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()

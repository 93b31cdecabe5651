"""Sending requests byte for byte (http.client, or a raw socket when the framing itself is the test)."""
from __future__ import annotations

import http.client
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

TIMEOUT = 30


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lowercase names
    body: bytes

    @property
    def error_code(self) -> str | None:
        """The S3 `<Error><Code>` of the body, if it is an S3 error document."""
        try:
            root = ET.fromstring(self.body)
        except ET.ParseError:
            return None
        code = root.find("Code") if root.tag == "Error" else None
        return code.text if code is not None else None

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.body[:600]!r})"


def send(host: str, port: int, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b"",
         timeout: float = TIMEOUT) -> Response:
    """Send with http.client, without it adding Host or Accept-Encoding (the headers are ours)."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value.encode("utf-8") if isinstance(value, str) else value)
        connection.endheaders()
        if body:
            try:
                connection.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered early and closed; its answer may still be readable
        response = connection.getresponse()
        data = response.read()
        return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        connection.close()


def send_prepared(host: str, port: int, request, timeout: float = TIMEOUT) -> Response:
    return send(host, port, request.method, request.target, request.headers, request.body, timeout)


def send_raw(host: str, port: int, data: bytes, half_close: bool = True, timeout: float = TIMEOUT) -> bytes:
    """Write `data` to a fresh connection, optionally shut down writing, and read until EOF/timeout."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while True:
                piece = sock.recv(65536)
                if not piece:
                    break
                chunks.append(piece)
        except (socket.timeout, ConnectionResetError):
            pass
        return b"".join(chunks)


def serialize(request, host_header: str | None = None) -> bytes:
    """A prepared request as HTTP/1.1 bytes (Host comes from its signed headers)."""
    lines = [f"{request.method} {request.target} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in request.headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + request.body


def parse_status(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else 0


def parse_response(raw: bytes) -> Response:
    """The first response in `raw` (status 0 and no headers when there is none), its body cut at Content-Length."""
    head, separator, rest = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not separator or not lines[0].startswith(b"HTTP/"):
        return Response(0, {}, raw)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    length = int(headers.get("content-length", len(rest)))
    return Response(parse_status(raw), headers, rest[:length])


def send_raw_once(host: str, port: int, data: bytes, timeout: float = TIMEOUT, quiet: float = 0.3) -> bytes:
    """Write `data` without half-closing (osp treats a half-close as the client going away), then read
    until the server closes, or until a complete final response (1xx kept, body of its Content-Length)
    has arrived and nothing followed for `quiet` seconds (so a second, unwanted response would show);
    bounded by `timeout`."""
    deadline = time.monotonic() + timeout
    received = b""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before all was written; the answer may still be readable
        return read_until(sock, b"", deadline, _complete, quiet=quiet)


def read_until(sock: socket.socket, received: bytes, deadline: float, done: Callable[[bytes], bool],
               quiet: float | None = None) -> bytes:
    """Read from `sock` onto `received` until `done(received)` holds — then, with `quiet`, on until
    nothing more arrives for `quiet` seconds (so an unwanted second answer would show) — or until
    the peer closes or resets, or `deadline` (`time.monotonic()`) passes."""
    while (remaining := deadline - time.monotonic()) > 0:
        complete = done(received)
        if complete and quiet is None:
            break
        sock.settimeout(min(remaining, quiet) if complete else remaining)
        try:
            piece = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not piece:
            break
        received += piece
    return received


def _complete(raw: bytes) -> bool:
    """Whether `raw` holds a final (non-1xx) response with all of its Content-Length body."""
    while raw.startswith(b"HTTP/1.1 1"):
        _, separator, raw = raw.partition(b"\r\n\r\n")
        if not separator:
            return False
    response = parse_response(raw)
    if response.status == 0 or "content-length" not in response.headers:
        return False
    return len(response.body) >= int(response.headers["content-length"])

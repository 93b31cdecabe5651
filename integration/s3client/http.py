"""Sending requests byte for byte (http.client, or a raw socket when the framing itself is the test)."""
from __future__ import annotations

import http.client
import socket
import xml.etree.ElementTree as ET
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

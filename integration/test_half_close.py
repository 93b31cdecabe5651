"""Clients that shut down their sending side after a request (`shutdown(SHUT_WR)`, as HTTP/1.0-style
tools and `nc -N` do) still get every answer they asked for, and then the connection closes.

A PUT that reached the backend complete is stored there whatever osp does next, so dropping the
answer would leave the client unable to tell whether it was; a request cut off mid-way still
stores nothing (test_refusals' truncated-body tests send theirs the same way)."""
from __future__ import annotations

import socket
import time

import pytest

from conftest import ALIAS_BUCKET, REAL_BUCKET
from osptest.clients import CLIENT_KEYS
from osptest.s3checks import exists_at_backend, stored_bytes
from s3client import signer as sig
from s3client.http import parse_response, send_raw, serialize

pytestmark = pytest.mark.usefixtures("osp")


@pytest.fixture
def good(osp) -> sig.RequestSigner:
    return sig.RequestSigner(sig.Credentials(*CLIENT_KEYS), osp.host)


def split_responses(raw: bytes) -> list:
    """Every Content-Length-framed response in `raw`, in order."""
    responses = []
    while raw.startswith(b"HTTP/"):
        response = parse_response(raw)
        responses.append(response)
        head_end = raw.index(b"\r\n\r\n") + 4
        raw = raw[head_end + int(response.headers.get("content-length", "0")):]
    return responses


def test_a_get_sent_before_shutting_down_writing_is_answered(osp, good, backend_s3, prefix):
    key = f"{prefix}object"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"answered after the half-close")
    raw = send_raw("127.0.0.1", osp.port, serialize(good.prepare("GET", f"/{ALIAS_BUCKET}/{key}")), half_close=True)
    [response] = split_responses(raw)
    assert response.status == 200, response
    assert response.body == b"answered after the half-close"
    assert response.headers.get("connection", "").lower() == "close"


@pytest.mark.parametrize("mode", [sig.HEX, sig.SIGNED_CHUNKS, sig.UNSIGNED_TRAILER])
def test_a_complete_put_then_half_close_is_stored_and_answered(osp, good, backend_s3, prefix, mode):
    key = f"{prefix}put"
    body = bytes(range(256)) * 400
    request = good.prepare("PUT", f"/{ALIAS_BUCKET}/{key}", body=body, payload_mode=mode, chunk_size=65536)
    [response] = split_responses(send_raw("127.0.0.1", osp.port, serialize(request), half_close=True))
    assert response.status == 200, response
    assert stored_bytes(backend_s3, REAL_BUCKET, key) == body


def test_pipelined_requests_before_the_half_close_are_all_answered_in_order(osp, good, backend_s3, prefix):
    for name in ("one", "two", "three"):
        backend_s3.put_object(Bucket=REAL_BUCKET, Key=prefix + name, Body=name.encode())
    raw_requests = b"".join(serialize(good.prepare("GET", f"/{ALIAS_BUCKET}/{prefix}{name}"))
                            for name in ("one", "two", "three"))
    responses = split_responses(send_raw("127.0.0.1", osp.port, raw_requests, half_close=True))
    assert [(r.status, r.body) for r in responses] == [(200, b"one"), (200, b"two"), (200, b"three")]
    assert [r.headers.get("connection", "keep-alive").lower() for r in responses][-1] == "close"


def test_a_request_cut_off_by_the_half_close_stores_nothing(osp, good, backend_s3, prefix):
    key = f"{prefix}cut"
    raw = serialize(good.prepare("PUT", f"/{ALIAS_BUCKET}/{key}", body=b"x" * 100_000, payload_mode=sig.HEX))
    answer = send_raw("127.0.0.1", osp.port, raw[:-50_000], half_close=True)
    assert parse_response(answer).status in (0, 400), answer[:300]
    assert not exists_at_backend(backend_s3, REAL_BUCKET, key)


def test_an_idle_keep_alive_connection_closes_when_the_client_half_closes(osp, good, backend_s3, prefix):
    key = f"{prefix}idle"
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=key, Body=b"idle")
    with socket.create_connection(("127.0.0.1", osp.port), timeout=10) as sock:
        sock.sendall(serialize(good.prepare("GET", f"/{ALIAS_BUCKET}/{key}")))
        buffer = b""
        while b"\r\n\r\nidle" not in buffer:
            piece = sock.recv(65536)
            assert piece, buffer
            buffer += piece
        assert parse_response(buffer).headers.get("connection", "keep-alive").lower() != "close"
        started = time.monotonic()
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(65536) == b""  # osp closes at once, long before its idle timeout
        assert time.monotonic() - started < 5

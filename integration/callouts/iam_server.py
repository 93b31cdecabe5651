#!/usr/bin/env python3
"""A local IBM Cloud IAM token endpoint for osp's tests: exchanges api keys for short-lived, opaque
bearer tokens, and tells a backend (s3backend `--bearer-introspect`) whether a token is current.

    python3 integration/callouts/iam_server.py --port 0 --api-key KEY [--api-key KEY2] \
        [--expires-in 3600] [--delay-ms 0]

Prints `READY <port>` once it listens on 127.0.0.1. Never prints api keys or tokens.

The exchange, answered like https://iam.cloud.ibm.com/identity/token:

    POST /identity/token
    Content-Type: application/x-www-form-urlencoded
    grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=KEY

    200 {"access_token": T, "refresh_token": "not_supported", "token_type": "Bearer",
         "expires_in": N, "expiration": <unix now + N>, "scope": "ibm openid"}
    400 {"errorCode": "BXNIM0103E", ...}   grant_type missing or not the api-key grant
    400 {"errorCode": "BXNIM0109E", ...}   apikey missing or empty
    400 {"errorCode": "BXNIM0415E", "errorMessage": "Provided API key could not be found."}
    400 {"errorCode": "BXNIM0109E", ...}   Content-Type is not application/x-www-form-urlencoded

Every successful exchange issues a new token (real IAM does too: a token is never handed out twice),
so a client that exchanges more often than it should is visible in the counters.

Test hooks (JSON):

    POST /__iam/config {"expires_in": s, "delay_ms": ms, "fail_status": status | null}
        expires_in: lifetime of tokens issued from now on (default 3600);
        delay_ms: wait before answering a token request (default 0), so exchanges overlap;
        fail_status: answer token requests with this status and a JSON error (null: answer normally).
        Answers the whole configuration.
    GET  /__iam/stats -> {"exchanges": successful exchanges, "attempts": all token requests,
                          "in_flight": token requests being answered now, "max_in_flight": most seen at once,
                          "active_tokens": issued, unexpired tokens, "introspections": N, "config": {...}}
    POST /__iam/reset  zero the counters and forget every token (so none is active any more);
                       with {"defaults": true} also restore the default configuration.
    POST /__iam/introspect {"token": T} -> {"active": true, "api_key_id": "ApiKey-…", "iat": t, "exp": t}
                                         | {"active": false}
        active: issued by this server, not expired by the wall clock, not forgotten by a reset.
        api_key_id names the key the token was exchanged for without revealing it.
"""

import argparse
import hashlib
import json
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # integration/, for osptest
from osptest.serving import JSONRequestHandler, serve_until_signalled  # noqa: E402

APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_BODY = 1 << 16
DEFAULT_EXPIRES_IN = 3600


class BodyTooLarge(ValueError):
    pass


def api_key_id(api_key: str) -> str:
    """A stable name for an api key that does not reveal it (real IAM answers keys by such an id)."""
    return "ApiKey-" + hashlib.sha256(b"osp-iam-test:" + api_key.encode()).hexdigest()[:24]


def iam_error(code: str, message: str) -> dict:
    """IAM's error document; the request id lets a test tell two answers apart, as in real IAM."""
    return {"errorCode": code, "errorMessage": message,
            "context": {"requestId": secrets.token_hex(8), "requestType": "incoming.Identity_Token"}}


@dataclass
class ExchangeConfig:
    """How token requests are answered right now (changed by `POST /__iam/config`)."""

    expires_in: int = DEFAULT_EXPIRES_IN
    delay_ms: int = 0
    fail_status: int | None = None

    def as_json(self) -> dict:
        return {"expires_in": self.expires_in, "delay_ms": self.delay_ms, "fail_status": self.fail_status}


@dataclass
class IssuedToken:
    api_key_id: str
    issued_at: float
    expires_at: float  # wall clock: a token issued for 1 s is inactive 1 s later, as in real IAM

    def active(self, now: float) -> bool:
        return now < self.expires_at


class IamState:
    """Known keys, issued tokens, configuration and counters, behind one lock."""

    def __init__(self, api_keys: list[str], config: ExchangeConfig) -> None:
        self.api_keys = {key: api_key_id(key) for key in api_keys}
        self.default_config = ExchangeConfig(**config.as_json())
        self.config = config
        self.tokens: dict[str, IssuedToken] = {}
        self.lock = threading.Lock()
        self.zero()

    def zero(self) -> None:
        self.exchanges = self.attempts = self.in_flight = self.max_in_flight = self.introspections = 0

    def begin_attempt(self) -> ExchangeConfig:
        with self.lock:
            self.attempts += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return ExchangeConfig(**self.config.as_json())

    def end_attempt(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def issue(self, key_id: str, expires_in: int) -> tuple[str, IssuedToken]:
        now = time.time()
        token = secrets.token_urlsafe(32)
        record = IssuedToken(key_id, now, now + expires_in)
        with self.lock:
            # forget what has expired, so a long session's map stays small; expired means inactive anyway
            for stale in [t for t, r in self.tokens.items() if not r.active(now)]:
                del self.tokens[stale]
            self.tokens[token] = record
            self.exchanges += 1
        return token, record

    def introspect(self, token: str) -> IssuedToken | None:
        now = time.time()
        with self.lock:
            self.introspections += 1
            record = self.tokens.get(token)
        return record if record is not None and record.active(now) else None

    def stats(self) -> dict:
        now = time.time()
        with self.lock:
            return {
                "exchanges": self.exchanges,
                "attempts": self.attempts,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "active_tokens": sum(1 for r in self.tokens.values() if r.active(now)),
                "introspections": self.introspections,
                "config": self.config.as_json(),
            }

    def reset(self, defaults: bool) -> None:
        with self.lock:
            self.zero()
            self.tokens.clear()
            if defaults:
                self.config = ExchangeConfig(**self.default_config.as_json())


def exchange_answer(state: IamState, content_type: str, body: bytes, config: ExchangeConfig) -> tuple[int, dict]:
    """The answer to one token request, after the configured delay."""
    if config.fail_status is not None:
        return config.fail_status, iam_error("BXNIM0500E", f"test IAM configured to fail with {config.fail_status}")
    if content_type.split(";")[0].strip().lower() != FORM_TYPE:
        return 400, iam_error("BXNIM0109E", f"Unsupported Content-Type; expecting {FORM_TYPE}.")
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        return 400, iam_error("BXNIM0109E", "The request body is not UTF-8 form data.")
    grant = form.get("grant_type", [""])
    if len(grant) != 1 or grant[0] != APIKEY_GRANT:
        return 400, iam_error("BXNIM0103E", "Unsupported grant type. Expecting grant_type "
                              f"{APIKEY_GRANT}.")
    keys = form.get("apikey", [""])
    if len(keys) != 1 or not keys[0]:
        return 400, iam_error("BXNIM0109E", "Property missing or empty. Property: apikey")
    key_id = state.api_keys.get(keys[0])
    if key_id is None:
        return 400, iam_error("BXNIM0415E", "Provided API key could not be found.")
    token, record = state.issue(key_id, config.expires_in)
    return 200, {
        "access_token": token,
        "refresh_token": "not_supported",
        "token_type": "Bearer",
        "expires_in": config.expires_in,
        "expiration": int(record.issued_at) + config.expires_in,
        "scope": "ibm openid",
    }


def parse_config(document: dict, current: ExchangeConfig) -> ExchangeConfig:
    """The configuration after applying `document`; ValueError names the bad field."""
    config = ExchangeConfig(**current.as_json())
    for name in ("expires_in", "delay_ms"):
        if name in document:
            value = document[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")
            setattr(config, name, value)
    if "fail_status" in document:
        value = document["fail_status"]
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 400 <= value <= 599):
            raise ValueError("fail_status must be null or an HTTP error status (400-599)")
        config.fail_status = value
    return config


class IamHandler(JSONRequestHandler):
    """Quiet like every test server: request lines could carry tokens in a query."""

    server_version = "osp-iam-test"
    timeout = 30  # a client that stops sending mid-request is dropped, not waited on forever
    max_body = MAX_BODY
    answer_headers = {"Cache-Control": "no-store"}  # as IBM IAM answers token requests
    state: IamState = None

    def _read_body(self) -> bytes:
        """The body by Content-Length, or de-chunked (Transfer-Encoding: chunked); bounded either way."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            pieces, total = [], 0
            while True:
                size = int(self.rfile.readline(64).split(b";")[0].strip() or b"0", 16)
                total += size
                if total > MAX_BODY:
                    raise BodyTooLarge("request body too large")
                if size == 0:
                    for _ in range(64):  # trailers, skipped; a bounded number of them
                        if self.rfile.readline(1024) in (b"\r\n", b"\n", b""):
                            return b"".join(pieces)
                    raise ValueError("too many trailer lines")
                pieces.append(self.rfile.read(size))
                self.rfile.readline(8)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise BodyTooLarge("request body too large")
        return self.rfile.read(length) if length else b""

    def _json_body(self, raw: bytes) -> dict:
        document = json.loads(raw or b"{}")
        if not isinstance(document, dict):
            raise ValueError("the body must be a JSON object")
        return document

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/__iam/stats":
            return self._send(200, self.state.stats())
        if path == "/identity/token":
            return self._send(405, iam_error("BXNIM0107E", "Method not allowed; use POST."))
        self._send(404, {"error": "not found"})

    def do_POST(self):
        state = self.state
        path = urlsplit(self.path).path
        try:
            raw = self._read_body()
        except ValueError as error:
            self.close_connection = True  # the rest of the body cannot be trusted to be in step
            return self._send(413 if isinstance(error, BodyTooLarge) else 400, {"error": str(error)})

        if path == "/identity/token":
            config = state.begin_attempt()
            try:
                if config.delay_ms:
                    time.sleep(config.delay_ms / 1000.0)
                status, payload = exchange_answer(state, self.headers.get("Content-Type") or "", raw, config)
            finally:
                state.end_attempt()
            return self._send(status, payload)

        try:
            document = self._json_body(raw)
        except ValueError as error:
            return self._send(400, {"error": str(error)})
        if path == "/__iam/introspect":
            token = document.get("token")
            if not isinstance(token, str):
                return self._send(400, {"error": "token must be a string"})
            record = state.introspect(token)
            if record is None:
                return self._send(200, {"active": False})
            return self._send(200, {"active": True, "api_key_id": record.api_key_id,
                                    "iat": int(record.issued_at), "exp": int(record.expires_at)})
        if path == "/__iam/config":
            try:
                with state.lock:
                    state.config = parse_config(document, state.config)
                    answer = state.config.as_json()
            except ValueError as error:
                return self._send(400, {"error": str(error)})
            return self._send(200, answer)
        if path == "/__iam/reset":
            state.reset(bool(document.get("defaults")))
            return self._send(200, {})
        self._send(404, {"error": "not found"})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", action="append", default=[], metavar="KEY",
                        help="an api key the exchange accepts (repeatable)")
    parser.add_argument("--expires-in", type=int, default=DEFAULT_EXPIRES_IN, help="token lifetime, seconds")
    parser.add_argument("--delay-ms", type=int, default=0, help="wait before answering token requests")
    args = parser.parse_args(argv)

    IamHandler.state = IamState(args.api_key, ExchangeConfig(expires_in=args.expires_in, delay_ms=args.delay_ms))
    return serve_until_signalled(args.port, IamHandler)


if __name__ == "__main__":
    sys.exit(main())

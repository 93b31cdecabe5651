#!/usr/bin/env python3
"""A secret and credential service for osp's tests: answers osp's HTTP secret callout
(`secrets.backend: http`) and HTTP credential callout (`credentials.backend: http`) from a JSON file.

    python3 integration/callouts/secret_server.py --port 0 --data callouts.json [--token T] \
        [--mode normal|500|garbage|slow] [--delay-ms N]

Prints `READY <port>` once it listens on 127.0.0.1. The data file:

    {
      "keys": {
        "AKIDALICE": {"secret_key": "...", "principal": "alice", "groups": ["readers"]}
      },
      "credentials": {
        "shared-bucket": {"access_key": "...", "secret_key": "...", "ttl": 60},
        "team-bucket": {"principals": {"alice": {"access_key": "...", "secret_key": "..."},
                                       "bob":   {"access_key": "...", "secret_key": "...", "session_token": "..."}}}
      }
    }

A bucket entry with `access_key` is shared (answered with `"per_principal": false`); one with
`principals` is per principal (`"per_principal": true`; principals not listed get 404). Unknown access
keys and buckets get 404. Entries may add `"ttl"`.

Callouts (both GET, both need `Authorization: Bearer T` when --token is given, else 401):

    GET /secret?access_key=K                -> {"secret_key", "principal", "groups"} | 404
    GET /credentials?bucket=B&principal=P   -> {"access_key", "secret_key", "session_token"?, "ttl"?, "per_principal"} | 404

Test hooks: `GET /__stats` -> {"requests": N, "secret_requests": N, "credential_requests": N,
"mode", "delay_ms", "last": {"path": ..., "query": {...}, "authorization": bool}} (callouts seen, whatever
their outcome); `POST /__reset` (zero the counters); `POST /__mode {"mode": ..., "delay_ms": N}`
(`slow` waits delay_ms, default 3000, then answers normally); `POST /__data {...}` (replace the data).
"""

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # integration/, for osptest
from osptest.serving import JSONRequestHandler, serve_until_signalled  # noqa: E402

MODES = ("normal", "500", "garbage", "slow")


class CalloutState:
    """The data and everything the test hooks read or change, behind one lock."""

    def __init__(self, data, token, mode, delay_ms):
        self.data = data
        self.token = token
        self.mode = mode
        self.delay_ms = delay_ms
        self.requests = 0
        self.secret_requests = 0
        self.credential_requests = 0
        self.last = None
        self.lock = threading.Lock()


def secret_answer(data, query):
    keys = query.get("access_key", [])
    if len(keys) != 1:
        return 400, {"error": "exactly one access_key parameter"}
    entry = data.get("keys", {}).get(keys[0])
    if entry is None:
        return 404, {"error": "unknown access key"}
    return 200, entry


def credential_answer(data, query):
    buckets, principals = query.get("bucket", []), query.get("principal", [])
    if len(buckets) != 1 or len(principals) != 1:
        return 400, {"error": "exactly one bucket and one principal parameter"}
    entry = data.get("credentials", {}).get(buckets[0])
    if entry is None:
        return 404, {"error": "unknown bucket"}
    if "principals" in entry:
        own = entry["principals"].get(principals[0])
        if own is None:
            return 404, {"error": "no credentials for this principal"}
        answer = dict(own)
        answer.setdefault("ttl", entry.get("ttl"))
        answer["per_principal"] = True
    else:
        answer = dict(entry)
        answer["per_principal"] = False
    return 200, {k: v for k, v in answer.items() if v is not None}


class CalloutHandler(JSONRequestHandler):
    server_version = "osp-callout-test"
    state: CalloutState = None

    def do_GET(self):
        state = self.state
        url = urlsplit(self.path)
        if url.path == "/__stats":
            with state.lock:
                return self._send(200, {
                    "requests": state.requests,
                    "secret_requests": state.secret_requests,
                    "credential_requests": state.credential_requests,
                    "mode": state.mode,
                    "delay_ms": state.delay_ms,
                    "last": state.last,
                })
        if url.path not in ("/secret", "/credentials"):
            return self._send(404, {"error": "not found"})

        query = parse_qs(url.query, keep_blank_values=True)
        with state.lock:
            state.requests += 1
            if url.path == "/secret":
                state.secret_requests += 1
            else:
                state.credential_requests += 1
            state.last = {
                "path": url.path,
                "query": {k: v[0] if len(v) == 1 else v for k, v in query.items()},
                "authorization": self.headers.get("Authorization") is not None,
            }
            mode, delay_ms, token, data = state.mode, state.delay_ms, state.token, state.data
        if mode == "slow":
            time.sleep((delay_ms or 3000) / 1000.0)
        if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
            return self._send(401, {"error": "missing or invalid bearer token"})
        if mode == "500":
            return self._send(500, {"error": "test server in 500 mode"})
        if mode == "garbage":
            return self._send(200, b"<html>this is not an answer", "application/json")
        status, payload = (secret_answer if url.path == "/secret" else credential_answer)(data, query)
        self._send(status, payload)

    def do_POST(self):
        state = self.state
        path = urlsplit(self.path).path
        try:
            raw = self._read_body()
        except ValueError as error:
            self.close_connection = True
            return self._send(413, {"error": str(error)})
        try:
            document = json.loads(raw or b"{}")
            if not isinstance(document, dict):
                raise ValueError("the body must be a JSON object")
        except ValueError as error:
            return self._send(400, {"error": str(error)})

        if path == "/__reset":
            with state.lock:
                state.requests = state.secret_requests = state.credential_requests = 0
                state.last = None
            return self._send(200, {})
        if path == "/__mode":
            mode = document.get("mode", state.mode)
            if mode not in MODES:
                return self._send(400, {"error": f"mode must be one of {MODES}"})
            try:
                delay_ms = int(document.get("delay_ms", state.delay_ms))
            except (TypeError, ValueError):
                return self._send(400, {"error": "delay_ms must be an integer"})
            with state.lock:
                state.mode, state.delay_ms = mode, delay_ms
            return self._send(200, {"mode": mode, "delay_ms": delay_ms})
        if path == "/__data":
            with state.lock:
                state.data = document
            return self._send(200, {})
        self._send(404, {"error": "not found"})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--data", help="the JSON file of keys and credentials (default: empty)")
    parser.add_argument("--token", help="require Authorization: Bearer TOKEN")
    parser.add_argument("--mode", choices=MODES, default="normal")
    parser.add_argument("--delay-ms", type=int, default=3000, help="how long the slow mode waits")
    args = parser.parse_args(argv)

    data = {}
    if args.data:
        with open(args.data, encoding="utf-8") as f:
            data = json.load(f)
    CalloutHandler.state = CalloutState(data, args.token, args.mode, args.delay_ms)
    return serve_until_signalled(args.port, CalloutHandler)


if __name__ == "__main__":
    sys.exit(main())

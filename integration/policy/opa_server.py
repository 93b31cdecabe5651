#!/usr/bin/env python3
"""An OPA-compatible policy server for osp's tests, evaluating real Rego with OPA's own Go evaluator
(the `opa-golib-python-bindings` wheel, imported as `opa_bindings`).

    python3 integration/policy/opa_server.py --port 0 --policy integration/policy/osp.rego \
        [--token T] [--delay-ms N] [--mode normal|500|garbage]

Prints `READY <port>` once it listens on 127.0.0.1. Answers like OPA's Data API:

    POST /v1/data/<a>/<b>  {"input": {...}}  ->  {"result": <data.a.b>}, or {} when undefined

Test hooks (not part of OPA): `GET /__stats` -> {"requests": N} (policy requests seen, whatever
their outcome), `GET /__last_input` -> the last input document, `POST /__reset` (zero the counter),
`POST /__mode {"mode": ..., "delay_ms": N}` (change the failure mode without a restart).
"""

import argparse
import json
import re
import sys
import threading
import time
from pathlib import Path

from opa_bindings import OpaEngine, OpaError, OpaUndefinedError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # integration/, for osptest
from osptest.serving import JSONRequestHandler, serve_until_signalled  # noqa: E402

MODES = ("normal", "500", "garbage")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PolicyState:
    """The engine and everything the test hooks read or change, behind one lock."""

    def __init__(self, engine, token, delay_ms, mode):
        self.engine = engine
        self.token = token
        self.delay_ms = delay_ms
        self.mode = mode
        self.requests = 0
        self.last_input = None
        self.lock = threading.Lock()


class OPAHandler(JSONRequestHandler):
    server_version = "osp-opa-test"
    state: PolicyState = None

    # -- plumbing ------------------------------------------------------------------------------

    def _error(self, status, code, message):
        self._send(status, {"code": code, "message": message})

    # -- routes --------------------------------------------------------------------------------

    def do_GET(self):
        state = self.state
        if self.path == "/__stats":
            with state.lock:
                self._send(200, {"requests": state.requests, "mode": state.mode, "delay_ms": state.delay_ms})
        elif self.path == "/__last_input":
            with state.lock:
                self._send(200, {"input": state.last_input})
        elif self.path == "/health":
            self._send(200, {})
        else:
            self._error(404, "resource_not_found", "not found")

    def do_POST(self):
        state = self.state
        path = self.path.split("?", 1)[0]
        try:
            raw = self._read_body()
        except ValueError as error:
            self.close_connection = True
            return self._error(413, "invalid_parameter", str(error))

        if path == "/__reset":
            with state.lock:
                state.requests = 0
                state.last_input = None
            return self._send(200, {})
        if path == "/__mode":
            try:
                change = json.loads(raw or b"{}")
                mode = change.get("mode", state.mode)
                if mode not in MODES:
                    raise ValueError(f"mode must be one of {MODES}")
                delay_ms = int(change.get("delay_ms", state.delay_ms))
            except (ValueError, TypeError, AttributeError) as error:
                return self._error(400, "invalid_parameter", str(error))
            with state.lock:
                state.mode, state.delay_ms = mode, delay_ms
            return self._send(200, {"mode": mode, "delay_ms": delay_ms})
        if path != "/v1/data" and not path.startswith("/v1/data/"):
            return self._error(404, "resource_not_found", "not found")

        with state.lock:
            state.requests += 1
            mode, delay_ms, token = state.mode, state.delay_ms, state.token
        if delay_ms > 0:
            time.sleep(delay_ms / 1000.0)
        if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
            return self._error(401, "unauthorized", "missing or invalid bearer token")
        if mode == "500":
            return self._error(500, "internal_error", "test server in 500 mode")
        if mode == "garbage":
            return self._send(200, b"<html>this is not an OPA answer", "application/json")

        try:
            document = json.loads(raw) if raw else {}
            if not isinstance(document, dict):
                raise ValueError("the request body must be a JSON object")
        except ValueError as error:
            return self._error(400, "invalid_parameter", f"body: {error}")
        input_document = document.get("input")
        with state.lock:
            state.last_input = input_document

        segments = [s for s in path[len("/v1/data"):].split("/") if s]
        if not all(IDENTIFIER.match(s) for s in segments):
            return self._error(400, "invalid_parameter", "path segments must be Rego identifiers")
        try:
            result = state.engine.eval_document(".".join(segments), input_document)
        except OpaUndefinedError:
            return self._send(200, {})  # OPA answers an undefined document without "result"
        except OpaError as error:
            return self._error(500, "internal_error", str(error))
        self._send(200, {"result": result})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--policy", action="append", required=True, help="a .rego file (repeatable)")
    parser.add_argument("--data", help="a JSON file merged into the data document")
    parser.add_argument("--token", help="require Authorization: Bearer TOKEN")
    parser.add_argument("--delay-ms", type=int, default=0, help="wait before answering policy requests")
    parser.add_argument("--mode", choices=MODES, default="normal")
    args = parser.parse_args(argv)

    engine = OpaEngine()
    for policy in args.policy:
        with open(policy, encoding="utf-8") as f:
            engine.add_policy(policy, f.read())
    if args.data:
        with open(args.data, encoding="utf-8") as f:
            engine.add_data(json.load(f))

    OPAHandler.state = PolicyState(engine, args.token, args.delay_ms, args.mode)
    return serve_until_signalled(args.port, OPAHandler)


if __name__ == "__main__":
    sys.exit(main())

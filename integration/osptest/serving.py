"""How the suite's small HTTP test servers (secret, IAM and OPA-compatible) run: on loopback, announced
with `READY <port>` on stdout once listening (what `processes.read_ready_port` and the Swift tests'
`ReadyServerProcess` wait for), until SIGTERM or SIGINT."""
from __future__ import annotations

import json
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JSONRequestHandler(BaseHTTPRequestHandler):
    """What the test servers' handlers share: keep-alive HTTP/1.1 (osp's libcurl client reuses
    connections), no request log, JSON answers, request bodies bounded by `max_body`."""

    protocol_version = "HTTP/1.1"
    max_body = 1 << 20
    # Sent with every answer besides the framing headers (the IAM server: Cache-Control: no-store).
    answer_headers: dict[str, str] = {}

    def log_message(self, format, *args):  # quiet: tests read stdout for READY only
        pass

    def _send(self, status, payload, content_type="application/json"):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in self.answer_headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its timeout fired)

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.max_body:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length else b""


def serve_until_signalled(port: int, handler: type[BaseHTTPRequestHandler]) -> int:
    """Serves `handler` on 127.0.0.1:`port` (0 picks a free port) until SIGTERM/SIGINT; returns 0."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True

    def stop(signum, frame):
        # shutdown() waits for serve_forever to return, so it cannot run on the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0

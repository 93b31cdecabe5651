"""How the suite's small HTTP test servers (secret, IAM and OPA-compatible) run: on loopback, announced
with `READY <port>` on stdout once listening (what `processes.read_ready_port` and the Swift tests'
`ReadyServerProcess` wait for), until SIGTERM or SIGINT."""
from __future__ import annotations

import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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

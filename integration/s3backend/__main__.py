"""Run the verifying S3 backend.

    cd integration && python3 -m s3backend --port 0 --region us-east-1 --credentials AK:SK [--journal FILE] \
        [--bearer-introspect http://127.0.0.1:PORT/__iam/introspect]
    python3 integration/s3backend/__main__.py ...        (same thing, from anywhere)

Prints `READY <port>` on stdout once listening on 127.0.0.1 (port 0 picks a free port).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile

if __package__ in (None, ""):  # run as a script: make the package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "s3backend"

from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402

from s3backend.app import build_app  # noqa: E402


class _Handler(WSGIRequestHandler):
    """Bounded reads: a client that stops sending mid-body is dropped after this many seconds."""

    timeout = 60

    def log_request(self, code="-", size="-"):  # keep stderr for refusals and tracebacks
        if os.environ.get("S3BACKEND_ACCESS_LOG"):
            super().log_request(code, size)


def _parse_credentials(values: list[str]) -> dict[str, str]:
    credentials = {}
    for value in values:
        access_key, sep, secret = value.partition(":")
        if not sep or not access_key or not secret:
            raise SystemExit(f"--credentials expects AK:SK, got {value!r}")
        credentials[access_key] = secret
    return credentials


def _self_signed_certificate(directory: str) -> tuple[str, str]:
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )
    return cert, key


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="s3backend", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--credentials", action="append", default=[], metavar="AK:SK", required=True)
    parser.add_argument("--journal", metavar="FILE", help="append one JSON line per request")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a self-signed certificate")
    parser.add_argument("--tls-dir", metavar="DIR",
                        help="with --tls: write the certificate (cert.pem, key.pem) here, so clients can trust it")
    parser.add_argument("--verbose", action="store_true", help="log refusals to stderr")
    parser.add_argument("--bearer-introspect", metavar="URL",
                        help="accept `Authorization: Bearer T` when POST URL {\"token\": T} says it is active "
                             "(an IAM test endpoint on loopback, e.g. callouts/iam_server.py's /__iam/introspect)")
    args = parser.parse_args(argv)

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        app = build_app(_parse_credentials(args.credentials), args.region, args.journal, args.verbose,
                        args.bearer_introspect)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    ssl_context = None
    if args.tls:
        directory = args.tls_dir or tempfile.mkdtemp(prefix="s3backend-tls-")
        os.makedirs(directory, exist_ok=True)
        ssl_context = _self_signed_certificate(directory)
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=_Handler,
                         ssl_context=ssl_context)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(f"READY {server.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Run the original product, object-storage-proxy from PyPI (Rust/Pingora with a Python API), as
the benchmark's `original` path: the same bucket, backend, client key and thread count as osp.

usage: original.py --port P --backend-port N [--threads 2] --workdir DIR

The package must be importable (run.sh installs it into its temp dir and sets PYTHONPATH); it is
deliberately not in integration/requirements.txt.

Configuration, mirroring osp's bench config:
  - bucket `bench` -> http://127.0.0.1:N, path style, region us-east-1, backend keys
    BACKENDAK/backendsecret (the original re-signs with them, SigV4 in headers);
  - client key BENCHCLIENT/benchsecret in its static HMAC keystore, signature checking on;
  - a validator that allows everything (osp's bench runs without an `authorization:` section);
  - `threads` like osp; `max_presign_url_usage_attempts` = 10^9, because the original counts
    the uses of each presigned URL and by default refuses the fourth, while the benchmark
    replays one presigned URL (osp accepts a presigned URL until it expires).

The original binds 0.0.0.0:<http_port> with no setting for the address, so this script re-executes
itself with loopback_bind.c (built with `cc` into DIR) preloaded, which turns wildcard binds into
loopback binds, and refuses to go on if any listener of the process is not on loopback.

Prints `READY <port>` on stdout once the port accepts connections and the listener check passed.
Stop it with SIGINT (it exits at once); on SIGTERM Pingora starts a graceful shutdown that
outlasts the benchmark's 5 s grace, so SIGTERM then SIGKILL also works, just slower.
Exit status: 2 usage, 3 cannot confine to loopback, 4 package missing, 5 not listening in time.
"""

import argparse
import os
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHIM_SOURCE = os.path.join(HERE, "loopback_bind.c")
SHIM_NAME = "loopback_bind.so"
READY_TIMEOUT_S = 20
CLIENT = {"access_key": "BENCHCLIENT", "secret_key": "benchsecret"}
BACKEND = {"access_key": "BACKENDAK", "secret_key": "backendsecret"}
PRESIGN_USES = 10**9


def fail(code: int, message: str) -> None:
    print(f"original.py: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def shim_loaded() -> bool:
    with open("/proc/self/maps") as maps:
        return any(line.rstrip().endswith("/" + SHIM_NAME) for line in maps)


def reexec_with_shim(workdir: str) -> None:
    """Build the loopback shim and exec this script again with it preloaded (same PID)."""
    if os.environ.get("OSP_BENCH_SHIM_EXEC") == "1":
        fail(3, f"{SHIM_NAME} is still not loaded after re-exec (LD_PRELOAD ignored?)")
    shim = os.path.join(workdir, SHIM_NAME)
    try:
        subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", shim, SHIM_SOURCE, "-ldl"],
                       check=True, timeout=60, capture_output=True, text=True)
    except FileNotFoundError:
        fail(3, "needs a C compiler (cc) to keep the original's listener on loopback; none found")
    except subprocess.CalledProcessError as err:
        fail(3, f"building {SHIM_NAME} failed: {err.stderr.strip()[:500]}")
    except subprocess.TimeoutExpired:
        fail(3, f"building {SHIM_NAME} took over 60 s")
    env = dict(os.environ)
    env["LD_PRELOAD"] = shim + (" " + env["LD_PRELOAD"] if env.get("LD_PRELOAD") else "")
    env["OSP_BENCH_SHIM_EXEC"] = "1"
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]], env)


def own_listeners() -> list[tuple[str, int]]:
    """(local address in /proc hex form, port) of every listening TCP socket this process holds."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[3] == "0A" and cols[9] in inodes:   # 0A = LISTEN
                addr, port = cols[1].split(":")
                found.append((addr, int(port, 16)))
    return found


def is_loopback(hex_addr: str) -> bool:
    if len(hex_addr) == 8:   # IPv4, little-endian: 127.x.y.z ends in 7F
        return hex_addr.upper().endswith("7F")
    return hex_addr.upper() == "00000000000000000000000001000000"   # ::1


def announce_when_ready(port: int) -> None:
    """Print READY once the port answers and every listener of the process is on loopback."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
        except OSError:
            time.sleep(0.1)
            continue
        outside = [(a, p) for a, p in own_listeners() if not is_loopback(a)]
        if outside:
            print(f"original.py: listeners outside loopback {outside}; stopping", file=sys.stderr, flush=True)
            os._exit(3)
        print(f"READY {port}", flush=True)
        return
    print(f"original.py: not listening on 127.0.0.1:{port} within {READY_TIMEOUT_S} s", file=sys.stderr, flush=True)
    os._exit(5)


def allow(token, bucket, request=None) -> bool:
    """osp's bench has no authorization section; the original's equivalent is an allow-all validator."""
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--backend-port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", required=True)
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    if not shim_loaded():
        reexec_with_shim(args.workdir)
    os.chdir(args.workdir)          # its Rust core loads a `.env` from the working directory
    os.environ.pop("RUST_LOG", None)  # keep its default (errors only): osp runs with its access log off
    try:
        from object_storage_proxy import ProxyServerConfig, start_server
    except ImportError as err:
        fail(4, f"cannot import object_storage_proxy ({err}); pip install object-storage-proxy")

    cos_map = {
        "bench": {
            "host": "127.0.0.1",
            "port": args.backend_port,
            "region": "us-east-1",
            "addressing_style": "path",
            "is_tls_enabled": False,
            "ttl": 300,
            **BACKEND,
        },
    }
    config = ProxyServerConfig(
        cos_map=cos_map,
        hmac_keystore=[dict(CLIENT)],
        validator=allow,
        http_port=args.port,
        threads=args.threads,
        skip_signature_validation=False,
        max_presign_url_usage_attempts=PRESIGN_USES,
    )
    threading.Thread(target=announce_when_ready, args=(args.port,), daemon=True).start()
    start_server(config)   # blocks while serving
    fail(1, "start_server returned")


if __name__ == "__main__":
    main()

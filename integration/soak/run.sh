#!/usr/bin/env bash
# osp data-integrity soak: starts the verifying S3 backend (integration/s3backend) and osp in front of
# it on loopback, runs integration/soak/soak.py against them, and always stops both (SIGTERM, SIGKILL
# after 5 s), whatever happens.
#
# usage: ./integration/soak/run.sh [soak.py options]      e.g. --objects 1000 --max-size 64MiB --seed 1
# env:   OSP_BIN    the osp binary (default: the newer of .build/release/osp and .build/debug/osp)
#        SOAK_OUT   where logs and the JSON report go (default integration/soak/out)
#        SOAK_KEEP_TMP=1  keep the temp dir (osp config, backend spool) for inspection
# Exit status: soak.py's (0 clean, 1 lost/corrupted/errors, 2 setup), or 3 if the servers did not start.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
INTEGRATION="$(cd "$HERE/.." && pwd)"
ROOT="$(cd "$INTEGRATION/.." && pwd)"
if [[ -z "${OSP_BIN:-}" ]]; then  # the newer build, so a stale release binary is not soaked by mistake
    OSP_BIN="$ROOT/.build/debug/osp"
    if [[ -x "$ROOT/.build/release/osp" && ( ! -x "$OSP_BIN" || "$ROOT/.build/release/osp" -nt "$OSP_BIN" ) ]]; then
        OSP_BIN="$ROOT/.build/release/osp"
    fi
fi
OUT="${SOAK_OUT:-$HERE/out}"
# the interpreter itself, not a wrapper (pyenv shim), so that $! is the server's own PID
PYTHON="$(python3 -c 'import sys; print(sys.executable)')"
# test-only keys, the same constants as integration/osptest/clients.py (not secrets)
BACKEND_ACCESS_KEY=BACKENDAKID0001 BACKEND_SECRET_KEY=backend-secret-0001
CLIENT_ACCESS_KEY=AKIDALICE0001 CLIENT_SECRET_KEY=alice-secret-0001
ALIAS_BUCKET=soak-bucket REAL_BUCKET=soak-real-bucket

log() { printf '[soak-run %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

for arg in "$@"; do  # help needs no servers
    [[ "$arg" == -h || "$arg" == --help ]] && exec "$PYTHON" "$HERE/soak.py" --help
done
[[ -x "$OSP_BIN" ]] || { log "osp binary not found at $OSP_BIN (swift build [-c release], or set OSP_BIN)"; exit 3; }
mkdir -p "$OUT"
TMP="$(mktemp -d /tmp/osp-soak.XXXXXX)"
declare -a STARTED=()

stop_pid() {  # SIGTERM, up to 5 s, then SIGKILL; only PIDs this script started
    local pid="$1" i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for 5 s; SIGKILL"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}

cleanup() {
    local rc=$?
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_pid "${STARTED[i]}"; done
    cp "$TMP/backend.log" "$TMP/osp.log" "$OUT/" 2>/dev/null
    if [[ "${SOAK_KEEP_TMP:-0}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- backend: moto behind the independent SigV4 verifier; large objects spool to $TMP, not RAM
cd "$INTEGRATION" || exit 3
TMPDIR="$TMP" "$PYTHON" -m s3backend --port 0 --region us-east-1 --verbose \
    --credentials "$BACKEND_ACCESS_KEY:$BACKEND_SECRET_KEY" >"$TMP/backend.out" 2>"$TMP/backend.log" </dev/null &
STARTED+=($!)
BACKEND_PORT=""
for ((i = 0; i < 600; i++)); do
    BACKEND_PORT="$(sed -n 's/^READY \([0-9]*\)$/\1/p' "$TMP/backend.out" 2>/dev/null)"
    [[ -n "$BACKEND_PORT" ]] && break
    kill -0 "${STARTED[0]}" 2>/dev/null || break
    sleep 0.1
done
[[ -n "$BACKEND_PORT" ]] || { log "backend did not start:"; tail -20 "$TMP/backend.log" >&2; exit 3; }

# ---- osp: an alias bucket (soak-bucket -> soak-real-bucket), so the soak also crosses the renaming
OSP_PORT="$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$TMP/osp.yaml" <<EOF
server: {bind: 127.0.0.1, http_port: $OSP_PORT, threads: 2}
upstream: {verify: true}
buckets:
  $ALIAS_BUCKET: {host: 127.0.0.1, port: $BACKEND_PORT, tls: false, region: us-east-1, addressing_style: path, backend_bucket: $REAL_BUCKET, access_key: "\${BACKEND_ACCESS_KEY}", secret_key: "\${BACKEND_SECRET_KEY}"}
keystore:
  - {access_key: "\${CLIENT_ACCESS_KEY}", secret_key: "\${CLIENT_SECRET_KEY}", principal: soak}
authorization:
  backend: rules
  rules:
    - {principals: [soak], buckets: [$ALIAS_BUCKET], prefix: "", actions: [read, write, list, delete], effect: allow}
EOF
BACKEND_ACCESS_KEY="$BACKEND_ACCESS_KEY" BACKEND_SECRET_KEY="$BACKEND_SECRET_KEY" \
CLIENT_ACCESS_KEY="$CLIENT_ACCESS_KEY" CLIENT_SECRET_KEY="$CLIENT_SECRET_KEY" \
    "$OSP_BIN" serve --config "$TMP/osp.yaml" >"$TMP/osp.log" 2>&1 </dev/null &
STARTED+=($!)
UP=0
for ((i = 0; i < 600; i++)); do
    kill -0 "${STARTED[1]}" 2>/dev/null || break
    if (exec 3<>"/dev/tcp/127.0.0.1/$OSP_PORT") 2>/dev/null; then UP=1; break; fi
    sleep 0.1
done
((UP)) || { log "osp did not start:"; tail -20 "$TMP/osp.log" >&2; exit 3; }
log "backend 127.0.0.1:$BACKEND_PORT, osp 127.0.0.1:$OSP_PORT ($OSP_BIN)"

# ---- the soak (foreground; bounded by its own --max-seconds and --verify-seconds)
START=$SECONDS
"$PYTHON" "$HERE/soak.py" --osp-url "http://127.0.0.1:$OSP_PORT" --backend-url "http://127.0.0.1:$BACKEND_PORT" \
    --bucket "$ALIAS_BUCKET" --backend-bucket "$REAL_BUCKET" --create-bucket --json "$OUT/report.json" "$@"
RC=$?
log "soak exited $RC after $((SECONDS - START)) s (report: $OUT/report.json, logs: $OUT/)"
# osp's memory after the soak: a leak per request or per body would show here (peak = VmHWM)
if [[ -r "/proc/${STARTED[1]}/status" ]]; then
    log "osp memory: $(grep -E '^Vm(HWM|RSS):' "/proc/${STARTED[1]}/status" | tr -s ' \t' ' ' | tr '\n' ' ')"
fi
for pid in "${STARTED[@]}"; do
    kill -0 "$pid" 2>/dev/null || { log "a server (pid $pid) died during the soak"; ((RC)) || RC=1; }
done
exit "$RC"

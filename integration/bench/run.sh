#!/usr/bin/env bash
# osp benchmark: one interleaved run on loopback comparing these paths to the same nginx backend:
#   direct    client -> nginx
#   haproxy   client -> haproxy (mode http, plain reverse proxy, no auth) -> nginx
#   osp       client -> osp (SigV4 presigned verify, re-sign, stream) -> nginx
#   original  client -> object-storage-proxy, the original product from PyPI (Rust/Pingora;
#             presigned verify, re-sign, stream) -> nginx; installed on demand into the temp dir
#             (skipped with a message if it cannot be installed or started)
#   nio-floor client -> nio-floor (integration/bench/nio-floor, its own Swift package: a bare SwiftNIO
#             HTTP/1 reverse proxy, no auth, no signing) -> nginx; 1 KiB GET rounds only. A
#             reference, not a target: the floor any proxy on SwiftNIO's HTTP/1 codec pays, so the
#             report shows how much of osp's gap to haproxy is osp's own work. Built here with
#             `swift build -c release` (skipped with a message if the build or start fails)
#   sigv4-floor client -> sigv4-floor (integration/bench/sigv4-floor, its own Swift package: nio-floor
#             plus the signature work every SigV4 gateway must do: verify the presigned URL, drop
#             the X-Amz-* parameters, re-sign with the backend key, all with osp's S3Signing)
#             -> nginx; 1 KiB GET rounds only. A reference, not a target: the least any
#             SigV4-verifying, re-signing gateway on SwiftNIO + swift-crypto + osp's S3Signing pays,
#             so the report shows how much of osp's gap is signature work and how much osp's other
#             per-request work. Built and checked here (a presigned GET must pass, a tampered or
#             unsigned one must get 403; skipped with a message if the build, start or checks fail)
#
# and then (policy section) four osp instances that differ only in their authorization backend,
# allow-all vs rules vs opa (warm decision cache), on the same 1 KiB GET, and a second allow-all
# (the control: how far apart two identical instances read on this machine).
#
# usage: ./integration/bench/run.sh            full run incl. the policy section (~13 min on 2 cores)
#        BENCH_QUICK=1 ./integration/bench/run.sh   smoke run (< 1 min; policy section only with BENCH_POLICY=1)
#        BENCH_ONLY=policy ./integration/bench/run.sh   the policy section alone (~5 min)
# env:   OSP_BIN (default .build/release/osp), BENCH_REPS, BENCH_WRK_ROUNDS, BENCH_WRK_DURATION,
#        BENCH_OUT (results directory, default integration/bench/out), BENCH_NGINX_WORKERS,
#        BENCH_KEEP_TMP=1 (keep the temp dir for inspection),
#        BENCH_POLICY=1|0 (policy section on/off; default on in the full run, off in the quick run),
#        BENCH_POLICY_ROUNDS (interleaved wrk rounds in the policy section; 9, quick 1),
#        BENCH_POLICY_SECONDS (seconds per wrk cell in the policy section; 5, quick 1),
#        BENCH_CROSS=1|0 (the policy section's crossover: two processes at once, roles swapped; on),
#        BENCH_CROSS_ROUNDS (16, quick 1), BENCH_CROSS_SECONDS (seconds per cell, 4, quick 1),
#        BENCH_ORIGINAL=1|0 (the original product's path on/off; default on),
#        BENCH_ORIGINAL_VERSION (object-storage-proxy version pip installs; default 0.6.12),
#        BENCH_FLOOR=1|0 (the nio-floor path on/off; default on in the full run, off in the quick run),
#        BENCH_SIGV4_FLOOR=1|0 (the sigv4-floor path on/off; default on in the full run, off in the quick run)
# Prints a markdown table and PASS/FAIL per target; exits 0 once it has measured (it is a
# measurement, not a test), non-zero only if it could not set up.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OSP_BIN="${OSP_BIN:-$ROOT/.build/release/osp}"
OUT="${BENCH_OUT:-$HERE/out}"
QUICK="${BENCH_QUICK:-0}"

if [[ "$QUICK" == 1 ]]; then
    MED_MIB=4; LARGE_MIB=64; MED_LABEL=4MiB; LARGE_LABEL=64MiB
    REPS="${BENCH_REPS:-1}"; WRK_ROUNDS="${BENCH_WRK_ROUNDS:-1}"; WRK_DURATION="${BENCH_WRK_DURATION:-1}"
    MODE="quick (BENCH_QUICK=1)"
else
    MED_MIB=64; LARGE_MIB=1024; MED_LABEL=64MiB; LARGE_LABEL=1GiB
    REPS="${BENCH_REPS:-9}"; WRK_ROUNDS="${BENCH_WRK_ROUNDS:-3}"; WRK_DURATION="${BENCH_WRK_DURATION:-8}"
    MODE="full"
fi
CONNS=(1 16 64)
PATHS=(direct haproxy osp)   # + original once it is up
ORIGINAL="${BENCH_ORIGINAL:-1}"
ORIGINAL_VERSION="${BENCH_ORIGINAL_VERSION:-0.6.12}"
FLOOR="${BENCH_FLOOR:-$((QUICK == 1 ? 0 : 1))}"
SIGV4_FLOOR="${BENCH_SIGV4_FLOOR:-$((QUICK == 1 ? 0 : 1))}"
case "${BENCH_ONLY:-}" in
    "") RUN_MAIN=1; RUN_POLICY="${BENCH_POLICY:-$((QUICK == 1 ? 0 : 1))}" ;;
    policy) RUN_MAIN=0; RUN_POLICY=1; MODE="$MODE, policy section only (BENCH_ONLY=policy)" ;;
    *) echo "BENCH_ONLY must be empty or 'policy', not '$BENCH_ONLY'" >&2; exit 2 ;;
esac
[[ "$RUN_POLICY" == 1 ]] || RUN_POLICY=0
# policy section: the same osp four times, differing only in `authorization:`; `control` is a second
# allow-all, so the report shows how far apart two identical instances read (the noise floor)
POLICY_PATHS=(allow-all rules opa control)
POLICY_CONNS=(16 64)
POLICY_TARGET=0.95
# Many short interleaved rounds rather than a few long ones: the policy targets compare rates a few
# per cent apart, and on a shared 2-core VM a burst of outside load can sink one long cell; the
# median of 9 paired rounds shrugs that off (5 rounds of 8 s read 0.78-0.96 for the same build).
POLICY_ROUNDS="${BENCH_POLICY_ROUNDS:-$((QUICK == 1 ? 1 : 9))}"
POLICY_DURATION="${BENCH_POLICY_SECONDS:-$((QUICK == 1 ? 1 : 5))}"
CROSS="${BENCH_CROSS:-1}"
# 16 rounds (32 cells per backend and connection count, ~13 minutes): with 8, the same binary's
# 95 % intervals were ~±2.5 % wide and the verdict on a 0.95 target moved from run to run.
CROSS_ROUNDS="${BENCH_CROSS_ROUNDS:-$((QUICK == 1 ? 1 : 16))}"
CROSS_DURATION="${BENCH_CROSS_SECONDS:-$((QUICK == 1 ? 1 : 4))}"
NGINX_WORKERS="${BENCH_NGINX_WORKERS:-1}"
HAPROXY_THREADS=2
OSP_THREADS=2
CURL_MAX_TIME=300

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

for tool in nginx wrk curl python3 sha256sum $( ((RUN_MAIN)) && echo haproxy); do
    command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || die "$tool not found"
done
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
HAPROXY="$(command -v haproxy || echo /usr/sbin/haproxy)"
[[ -x "$OSP_BIN" ]] || die "osp binary not found at $OSP_BIN (cd $ROOT && swift build -c release)"
python3 -c 'import boto3' 2>/dev/null || die "python3 cannot import boto3 (needed for presigned URLs)"
# the interpreter itself, not a wrapper (pyenv shim), so that $! is the server's own PID
PYTHON="$(python3 -c 'import sys; print(sys.executable)')"
if ((RUN_POLICY)); then
    python3 -c 'import opa_bindings' 2>/dev/null \
        || die "python3 cannot import opa_bindings (the Rego engine of integration/policy/opa_server.py)"
fi

TMP="$(mktemp -d /tmp/osp-bench.XXXXXX)"
DATA="$TMP/data"
mkdir -p "$DATA/bench/put" "$DATA/bench/secret" "$TMP/nginx/logs" "$OUT"
RAW="$OUT/raw.tsv"
: > "$RAW"

# ---------------------------------------------------------------- process control
declare -a STARTED=()   # PIDs this script started (servers and samplers), stopped on EXIT
declare -A PROXY_PID=() # wrk path -> PID of the proxy process on it (CPU accounting, liveness)
declare -A PROXY_LOG=() # wrk path -> that process's log
declare -A STOP_SIG=()  # PID -> the signal that stops it promptly, if not SIGTERM

stop_pid() {  # stop_pid PID [SIG]: SIG (default TERM), wait up to 5 s, then SIGKILL (with its direct children)
    local pid="$1" sig="${2:-TERM}" kids i
    kill -0 "$pid" 2>/dev/null || return 0
    kids="$(ps -o pid= --ppid "$pid" 2>/dev/null | tr -d ' ' | tr '\n' ' ')"
    kill -"$sig" "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIG$sig for 5 s; SIGKILL"
        kill -KILL "$pid" 2>/dev/null
    fi
    for k in $kids; do kill -KILL "$k" 2>/dev/null; done
    wait "$pid" 2>/dev/null
    return 0
}

cleanup() {
    local rc=$?
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_pid "${STARTED[i]}" "${STOP_SIG[${STARTED[i]}]:-TERM}"; done
    for f in osp.log osp-allow-all.log osp-rules.log osp-opa.log osp-control.log osp-cross-P.log osp-cross-Q.log opa.log original.log nio-floor.log sigv4-floor.log; do
        if [[ -f "$TMP/$f" ]]; then cp "$TMP/$f" "$OUT/$f" 2>/dev/null; fi
    done
    if [[ "${BENCH_KEEP_TMP:-0}" == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_ports() {  # free_ports N: N currently free loopback TCP ports
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

wait_port() {  # wait_port PORT PID NAME: up to 15 s for a listener, failing early if PID died
    local port="$1" pid="$2" name="$3" i
    for ((i = 0; i < 150; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    log "$name did not listen on $port within 15 s"
    return 1
}

read -r NGINX_PORT HAPROXY_PORT OSP_PORT ORIGINAL_PORT FLOOR_PORT SIGV4_FLOOR_PORT <<<"$(free_ports 6)"
declare -A POLICY_PORT=()
read -r "POLICY_PORT[allow-all]" "POLICY_PORT[rules]" "POLICY_PORT[opa]" "POLICY_PORT[control]" "POLICY_PORT[cross-P]" "POLICY_PORT[cross-Q]" <<<"$(free_ports 6)"

# ---------------------------------------------------------------- objects
head -c 1024 /dev/urandom > "$DATA/bench/obj-1k"
head -c 1024 /dev/urandom > "$DATA/bench/secret/obj-1k"   # policy section: must be denied by rules/opa
if ((RUN_MAIN)); then
    log "creating objects in $DATA (urandom: 1 KiB, $MED_LABEL, $LARGE_LABEL)"
    dd if=/dev/urandom of="$DATA/bench/obj-med" bs=1M count="$MED_MIB" status=none
    dd if=/dev/urandom of="$DATA/bench/obj-large" bs=1M count="$LARGE_MIB" status=none
    sync
fi
declare -A OBJ_FILE=([1KiB]="$DATA/bench/obj-1k" [$MED_LABEL]="$DATA/bench/obj-med" [$LARGE_LABEL]="$DATA/bench/obj-large")
declare -A OBJ_KEY=([1KiB]=obj-1k [$MED_LABEL]=obj-med [$LARGE_LABEL]=obj-large)
declare -A OBJ_BYTES=([1KiB]=1024 [$MED_LABEL]=$((MED_MIB << 20)) [$LARGE_LABEL]=$((LARGE_MIB << 20)))

# ---------------------------------------------------------------- nginx
USER_LINE=""
[[ $EUID -eq 0 ]] && USER_LINE="user root;"
cat > "$TMP/nginx/nginx.conf" <<EOF
$USER_LINE
daemon off;
worker_processes $NGINX_WORKERS;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 100000000;
    default_type application/octet-stream;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $DATA;
        location = /_nginx_status { stub_status; }
        location / {
            dav_methods PUT;
            create_full_put_path on;
            client_max_body_size 0;
        }
    }
}
EOF
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -t -q 2>"$TMP/nginx/configtest.log" \
    || { cat "$TMP/nginx/configtest.log" >&2; die "nginx config test failed"; }
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/logs/stdout.log" 2>&1 &
NGINX_PID=$!; STARTED+=("$NGINX_PID")
wait_port "$NGINX_PORT" "$NGINX_PID" nginx || { cat "$TMP/nginx/logs/error.log" >&2; die "nginx did not start"; }

proc_alive() {  # proc_alive PATH: whether the proxy on that wrk path still runs (else shows its log)
    local pid="${PROXY_PID[$1]:-}"
    [[ -n "$pid" ]] || return 0
    if ! kill -0 "$pid" 2>/dev/null; then
        log "$1 (pid $pid) is no longer running; last lines of its log:"
        tail -n 30 "${PROXY_LOG[$1]}" >&2
        return 1
    fi
}
osp_alive() { proc_alive osp; }
status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$OSP_PID/status" 2>/dev/null; }

# ---------------------------------------------------------------- haproxy, osp, URLs (main paths)
declare -A URL
if ((RUN_MAIN)); then
    # haproxy
    cat > "$TMP/haproxy.cfg" <<EOF
global
    nbthread $HAPROXY_THREADS
    maxconn 8192
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    http-reuse always
frontend bench_fe
    bind 127.0.0.1:$HAPROXY_PORT
    default_backend bench_be
backend bench_be
    server nginx 127.0.0.1:$NGINX_PORT
EOF
    "$HAPROXY" -c -q -f "$TMP/haproxy.cfg" || die "haproxy config check failed"
    "$HAPROXY" -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
    HAPROXY_PID=$!; STARTED+=("$HAPROXY_PID")
    wait_port "$HAPROXY_PORT" "$HAPROXY_PID" haproxy || { cat "$TMP/haproxy.log" >&2; die "haproxy did not start"; }

    # osp (no `authorization:` section: every authenticated client may do anything)
    cat > "$TMP/osp.yaml" <<EOF
server: {bind: 127.0.0.1, http_port: $OSP_PORT, threads: $OSP_THREADS}
logging: {access_log: off}   # like haproxy and nginx here: measure the proxy, not its logging
buckets:
  bench: {host: 127.0.0.1, port: $NGINX_PORT, tls: false, region: us-east-1, addressing_style: path, access_key: BACKENDAK, secret_key: backendsecret}
keystore:
  - {access_key: BENCHCLIENT, secret_key: benchsecret, principal: bench}
EOF
    "$OSP_BIN" serve --config "$TMP/osp.yaml" >"$TMP/osp.log" 2>&1 &
    OSP_PID=$!; STARTED+=("$OSP_PID")
    wait_port "$OSP_PORT" "$OSP_PID" osp || { cat "$TMP/osp.log" >&2; die "osp did not start"; }

    PROXY_PID[haproxy]=$HAPROXY_PID; PROXY_LOG[haproxy]="$TMP/haproxy.log"
    PROXY_PID[osp]=$OSP_PID; PROXY_LOG[osp]="$TMP/osp.log"
    log "nginx :$NGINX_PORT (pid $NGINX_PID), haproxy :$HAPROXY_PORT (pid $HAPROXY_PID), osp :$OSP_PORT (pid $OSP_PID)"

    # the original product: object-storage-proxy from PyPI, deliberately not in requirements.txt,
    # pip-installed into the temp dir; integration/bench/original.py gives it osp's bucket, backend,
    # client key and thread count. Any failure skips the path (with the reason in the report).
    start_original() {  # sets ORIGINAL_PID, or ORIGINAL_NOTE and returns 1
        local pkg="$TMP/original-pkg" out i
        log "original: pip install object-storage-proxy==$ORIGINAL_VERSION into the temp dir"
        if ! out=$(timeout 300 "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps \
                --target "$pkg" "object-storage-proxy==$ORIGINAL_VERSION" 2>&1); then
            ORIGINAL_NOTE="skipped: pip install object-storage-proxy==$ORIGINAL_VERSION failed: $(tail -n 3 <<<"$out" | tr '\n\t' '  ' | cut -c1-300)"
            return 1
        fi
        PYTHONPATH="$pkg" "$PYTHON" "$HERE/original.py" --port "$ORIGINAL_PORT" --backend-port "$NGINX_PORT" \
            --threads "$OSP_THREADS" --workdir "$TMP/original" >"$TMP/original.log" 2>&1 &
        ORIGINAL_PID=$!; STARTED+=("$ORIGINAL_PID"); STOP_SIG[$ORIGINAL_PID]=INT   # SIGTERM: slow graceful exit
        for ((i = 0; i < 300; i++)); do   # up to 30 s: original.py first builds its loopback shim
            grep -aq '^READY ' "$TMP/original.log" 2>/dev/null && return 0
            kill -0 "$ORIGINAL_PID" 2>/dev/null || break
            sleep 0.1
        done
        ORIGINAL_NOTE="skipped: original.py did not print READY within 30 s: $(tail -n 3 "$TMP/original.log" | tr '\n\t' '  ' | cut -c1-300)"
        stop_pid "$ORIGINAL_PID" INT
        return 1
    }
    ORIGINAL_NOTE=""
    if [[ "$ORIGINAL" != 1 ]]; then
        ORIGINAL_NOTE="skipped (BENCH_ORIGINAL=0)"
    elif start_original; then
        PATHS+=(original)
        PROXY_PID[original]=$ORIGINAL_PID; PROXY_LOG[original]="$TMP/original.log"
        log "original: object-storage-proxy $ORIGINAL_VERSION :$ORIGINAL_PORT (pid $ORIGINAL_PID)"
    fi
    [[ -n "$ORIGINAL_NOTE" ]] && log "original: $ORIGINAL_NOTE"

    # nio-floor: integration/bench/nio-floor, a bare SwiftNIO HTTP/1 reverse proxy, built as its own
    # package (the root package does not reference it) and run with osp's thread count. Only in the
    # 1 KiB GET rounds. Any failure skips the path (with the reason in the report).
    # start_reference NAME PORT ARG...: builds the package integration/bench/NAME (its executable
    # is NAME too), starts it with ARG... and waits for PORT. Sets REF_PID, or REF_NOTE and returns 1.
    start_reference() {
        local name="$1" port="$2" t0=$SECONDS
        shift 2
        command -v swift >/dev/null || { REF_NOTE="skipped: swift not found"; return 1; }
        log "$name: swift build -c release --package-path ${HERE#"$ROOT"/}/$name"
        if ! timeout --foreground 1200 swift build -c release --package-path "$HERE/$name" >"$TMP/$name-build.log" 2>&1; then
            REF_NOTE="skipped: swift build failed after $((SECONDS - t0)) s: $(tail -n 3 "$TMP/$name-build.log" | tr '\n\t' '  ' | cut -c1-300)"
            return 1
        fi
        log "$name: built in $((SECONDS - t0)) s"
        "$HERE/$name/.build/release/$name" "$@" >"$TMP/$name.log" 2>&1 &
        REF_PID=$!; STARTED+=("$REF_PID")
        if ! wait_port "$port" "$REF_PID" "$name"; then
            REF_NOTE="skipped: $name did not start: $(tail -n 3 "$TMP/$name.log" | tr '\n\t' '  ' | cut -c1-300)"
            stop_pid "$REF_PID"
            return 1
        fi
    }

    start_floor() {  # sets FLOOR_PID, or FLOOR_NOTE and returns 1
        local got
        start_reference nio-floor "$FLOOR_PORT" http "$FLOOR_PORT" "$NGINX_PORT" "$OSP_THREADS" || { FLOOR_NOTE=$REF_NOTE; return 1; }
        FLOOR_PID=$REF_PID
        got=$(curl -s -o "$TMP/floor-check" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$FLOOR_PORT/bench/obj-1k")
        if [[ "$got" != 200 ]] || ! cmp -s "$TMP/floor-check" "$DATA/bench/obj-1k"; then
            FLOOR_NOTE="skipped: GET obj-1k via nio-floor answered $got (want 200 and the object's bytes)"
            stop_pid "$FLOOR_PID"
            return 1
        fi
    }
    FLOOR_NOTE=""
    # the 1 KiB GET rounds: the main paths, then nio-floor and sigv4-floor, with the original (if up) still last
    RATE_PATHS=(direct haproxy osp)
    if [[ "$FLOOR" != 1 ]]; then
        log "nio-floor: skipped (BENCH_FLOOR=0)"
    elif start_floor; then
        RATE_PATHS+=(nio-floor)
        PROXY_PID[nio-floor]=$FLOOR_PID; PROXY_LOG[nio-floor]="$TMP/nio-floor.log"
        URL[GET,1KiB,nio-floor]="http://127.0.0.1:$FLOOR_PORT/bench/obj-1k"
        log "nio-floor: :$FLOOR_PORT (pid $FLOOR_PID, threads $OSP_THREADS)"
    fi
    [[ -n "$FLOOR_NOTE" ]] && log "nio-floor: $FLOOR_NOTE"

    # sigv4-floor: integration/bench/sigv4-floor, nio-floor plus SigV4 verification and re-signing
    # with osp's S3Signing, built as its own package and run with osp's thread count. Only in the
    # 1 KiB GET rounds, on a URL presigned for its port like osp's. Used only if it really verifies:
    # the presigned GET must return the object, and the same URL with its last signature digit
    # changed and an unsigned GET must both be refused with 403. Any failure skips the path (with
    # the reason in the report).
    start_sigv4_floor() {  # sets SIGV4_FLOOR_PID and URL[GET,1KiB,sigv4-floor], or SIGV4_FLOOR_NOTE and returns 1
        local got good tampered got_tampered got_plain
        start_reference sigv4-floor "$SIGV4_FLOOR_PORT" "$SIGV4_FLOOR_PORT" "$NGINX_PORT" "$OSP_THREADS" \
            || { SIGV4_FLOOR_NOTE=$REF_NOTE; return 1; }
        SIGV4_FLOOR_PID=$REF_PID
        good="$(python3 "$HERE/presign.py" "http://127.0.0.1:$SIGV4_FLOOR_PORT" get:obj-1k)"
        if [[ "$good" != http://* ]]; then
            SIGV4_FLOOR_NOTE="skipped: presign.py failed for sigv4-floor"
            stop_pid "$SIGV4_FLOOR_PID"
            return 1
        fi
        if [[ "${good: -1}" == 0 ]]; then tampered="${good%?}1"; else tampered="${good%?}0"; fi
        got=$(curl -s -o "$TMP/sigv4-floor-check" -w '%{http_code}' --max-time 10 "$good")
        got_tampered=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$tampered")
        got_plain=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$SIGV4_FLOOR_PORT/bench/obj-1k")
        if [[ "$got" != 200 ]] || ! cmp -s "$TMP/sigv4-floor-check" "$DATA/bench/obj-1k" \
                || [[ "$got_tampered" != 403 || "$got_plain" != 403 ]]; then
            SIGV4_FLOOR_NOTE="skipped: via sigv4-floor presigned GET obj-1k answered $got$(cmp -s "$TMP/sigv4-floor-check" "$DATA/bench/obj-1k" || echo ' (body differs)'), signature digit changed $got_tampered, unsigned $got_plain (want 200 and the object's bytes, 403, 403)"
            stop_pid "$SIGV4_FLOOR_PID"
            return 1
        fi
        URL[GET,1KiB,sigv4-floor]="$good"
        log "sigv4-floor: checks ok (presigned GET 200, signature digit changed 403, unsigned 403)"
    }
    SIGV4_FLOOR_NOTE=""
    if [[ "$SIGV4_FLOOR" != 1 ]]; then
        log "sigv4-floor: skipped (BENCH_SIGV4_FLOOR=0)"
    elif start_sigv4_floor; then
        RATE_PATHS+=(sigv4-floor)
        PROXY_PID[sigv4-floor]=$SIGV4_FLOOR_PID; PROXY_LOG[sigv4-floor]="$TMP/sigv4-floor.log"
        log "sigv4-floor: :$SIGV4_FLOOR_PORT (pid $SIGV4_FLOOR_PID, threads $OSP_THREADS)"
    fi
    [[ -n "$SIGV4_FLOOR_NOTE" ]] && log "sigv4-floor: $SIGV4_FLOOR_NOTE"
    [[ " ${PATHS[*]} " == *" original "* ]] && RATE_PATHS+=(original)

    # URLs
    mapfile -t PRESIGNED < <(python3 "$HERE/presign.py" "http://127.0.0.1:$OSP_PORT" \
        get:obj-1k get:obj-med get:obj-large put:put/osp-med put:put/osp-large)
    [[ ${#PRESIGNED[@]} -eq 5 ]] || die "presign.py failed"
    for size in 1KiB "$MED_LABEL" "$LARGE_LABEL"; do
        URL[GET,$size,direct]="http://127.0.0.1:$NGINX_PORT/bench/${OBJ_KEY[$size]}"
        URL[GET,$size,haproxy]="http://127.0.0.1:$HAPROXY_PORT/bench/${OBJ_KEY[$size]}"
    done
    URL[GET,1KiB,osp]="${PRESIGNED[0]}"
    URL[GET,$MED_LABEL,osp]="${PRESIGNED[1]}"
    URL[GET,$LARGE_LABEL,osp]="${PRESIGNED[2]}"
    for path in direct haproxy; do
        port=$NGINX_PORT; [[ $path == haproxy ]] && port=$HAPROXY_PORT
        URL[PUT,$MED_LABEL,$path]="http://127.0.0.1:$port/bench/put/$path-med"
        URL[PUT,$LARGE_LABEL,$path]="http://127.0.0.1:$port/bench/put/$path-large"
    done
    URL[PUT,$MED_LABEL,osp]="${PRESIGNED[3]}"
    URL[PUT,$LARGE_LABEL,osp]="${PRESIGNED[4]}"
    if [[ " ${PATHS[*]} " == *" original "* ]]; then   # the same presigned form, for its own port
        mapfile -t PRESIGNED < <(python3 "$HERE/presign.py" "http://127.0.0.1:$ORIGINAL_PORT" \
            get:obj-1k get:obj-med get:obj-large put:put/original-med put:put/original-large)
        [[ ${#PRESIGNED[@]} -eq 5 ]] || die "presign.py failed for the original"
        URL[GET,1KiB,original]="${PRESIGNED[0]}"
        URL[GET,$MED_LABEL,original]="${PRESIGNED[1]}"
        URL[GET,$LARGE_LABEL,original]="${PRESIGNED[2]}"
        URL[PUT,$MED_LABEL,original]="${PRESIGNED[3]}"
        URL[PUT,$LARGE_LABEL,original]="${PRESIGNED[4]}"
    fi
    put_stored() {  # put_stored SIZE PATH: the file nginx stored for that PUT
        local s=med; [[ $1 == "$LARGE_LABEL" ]] && s=large
        echo "$DATA/bench/put/$2-$s"
    }
fi

# ---------------------------------------------------------------- metadata
{
    printf 'meta\tdate\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf 'meta\tmachine\t%s\n' "$(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, Linux $(uname -r), loopback; client, proxy and nginx share the CPUs"
    printf 'meta\tosp_bin\t%s\n' "${OSP_BIN#"$ROOT"/}"
    printf 'meta\tosp_version\t%s\n' "$(timeout 10 "$OSP_BIN" version 2>/dev/null | head -n 1)"
    printf 'meta\tgit\t%s\n' "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo ' + uncommitted changes')"
    printf 'meta\tosp_built\t%s\n' "$(date -u -r "$OSP_BIN" '+%Y-%m-%d %H:%M UTC')"
    printf 'meta\tosp_threads\t%s\n' "$OSP_THREADS"
    if ((RUN_MAIN)); then
        printf 'meta\toriginal_version\t%s\n' "$ORIGINAL_VERSION"
        [[ -n "$ORIGINAL_NOTE" ]] && printf 'meta\toriginal_note\t%s\n' "$ORIGINAL_NOTE"
        [[ -n "$FLOOR_NOTE" ]] && printf 'meta\tfloor_note\t%s\n' "$FLOOR_NOTE"
        [[ -n "$SIGV4_FLOOR_NOTE" ]] && printf 'meta\tsigv4_floor_note\t%s\n' "$SIGV4_FLOOR_NOTE"
    fi
    printf 'meta\tload_start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
    ((RUN_MAIN)) && printf 'meta\thaproxy_version\t%s\n' "$("$HAPROXY" -v | awk 'NR==1 {print $3}')"
    printf 'meta\thaproxy_threads\t%s\n' "$HAPROXY_THREADS"
    printf 'meta\tnginx_version\t%s\n' "$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')"
    printf 'meta\tnginx_workers\t%s\n' "$NGINX_WORKERS"
    printf 'meta\tmode\t%s\n' "$MODE"
    printf 'meta\treps\t%s\n' "$REPS"
    printf 'meta\twrk_rounds\t%s\n' "$WRK_ROUNDS"
    printf 'meta\twrk_duration\t%s s\n' "$WRK_DURATION"
    printf 'meta\twrk_threads\t%s\n' "wrk threads = min(2, conns)"
} >> "$RAW"
((RUN_MAIN)) && printf 'rss\trss_idle\t%s\n' "$(status_kib VmRSS)" >> "$RAW"

# ---------------------------------------------------------------- smoke, integrity, large transfers
VERIFY=()
if ((RUN_MAIN)); then
    # smoke + integrity
    log "smoke: one GET of each object on each path"
    for size in 1KiB "$MED_LABEL" "$LARGE_LABEL"; do
        for path in "${PATHS[@]}"; do
            code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time "$CURL_MAX_TIME" "${URL[GET,$size,$path]}" 2>&1)
            [[ "$code" == 200 ]] || log "smoke GET $size via $path: $code"
        done
    done
    # Does each signing proxy really verify what wrk replays? The presigned 1 KiB GET must pass
    # (same bytes as the file), and the same URL with its last signature digit changed, a URL
    # signed with a wrong secret key and an unsigned GET must all be refused (4xx).
    SIG_CHECKS=()
    for path in osp original; do
        [[ " ${PATHS[*]} " == *" $path "* ]] || continue
        good="${URL[GET,1KiB,$path]}"
        if [[ "${good: -1}" == 0 ]]; then tampered="${good%?}1"; else tampered="${good%?}0"; fi
        port=$OSP_PORT; [[ $path == original ]] && port=$ORIGINAL_PORT
        wrong_key="$(BENCH_SECRET_KEY=not-the-secret python3 "$HERE/presign.py" "http://127.0.0.1:$port" get:obj-1k)"
        got_good=$(curl -s -o "$TMP/sig-check" -w '%{http_code}' --max-time 10 "$good")
        cmp -s "$TMP/sig-check" "$DATA/bench/obj-1k" || got_good+=" (body differs)"
        got_tampered=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$tampered")
        got_wrong=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$wrong_key")
        got_plain=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port/bench/obj-1k")
        verdict=ok
        [[ "$got_good" == 200 && "$got_tampered" == 4?? && "$got_wrong" == 4?? && "$got_plain" == 4?? ]] \
            || verdict="UNEXPECTED (want 200 and three 4xx)"
        SIG_CHECKS+=("$path: presigned GET $got_good, signature digit changed $got_tampered, wrong secret key $got_wrong, unsigned $got_plain — $verdict")
        log "signature check ${SIG_CHECKS[-1]}"
    done
    printf 'meta\tsignature_checks\t%s\n' "$(IFS=';'; echo "${SIG_CHECKS[*]}" | sed 's/;/; /g')" >> "$RAW"

    sum_src_med="$(sha256sum < "${OBJ_FILE[$MED_LABEL]}" | cut -d' ' -f1)"
    for path in osp original; do
        [[ " ${PATHS[*]} " == *" $path "* ]] || continue
        sum_got="$(curl -sS --max-time "$CURL_MAX_TIME" "${URL[GET,$MED_LABEL,$path]}" | sha256sum | cut -d' ' -f1)"
        if [[ "$sum_got" == "$sum_src_med" ]]; then VERIFY+=("GET $MED_LABEL via $path byte-identical (sha256 ok)")
        else VERIFY+=("GET $MED_LABEL via $path DIFFERS (sha256 $sum_got, expected $sum_src_med)"); fi
    done

    # large transfers
    sampler() {  # sampler OUTFILE: max VmRSS of osp every 0.1 s until killed
        local max v
        max=$(cat "$1" 2>/dev/null || echo 0)   # the file keeps the maximum over all samplers
        while kill -0 "$OSP_PID" 2>/dev/null; do
            v=$(status_kib VmRSS); [[ -n "$v" && "$v" -gt "$max" ]] && { max=$v; echo "$max" > "$1"; }
            sleep 0.1
        done
    }

    transfer() {  # transfer OP SIZE PATH REP: one curl transfer, appends a xfer row
        local op="$1" size="$2" path="$3" rep="$4" url="${URL[$1,$2,$3]}" out rc code bytes t mbps
        local samp="" sfile="$TMP/sample.$op"
        if [[ $path == osp && $size == "$LARGE_LABEL" ]]; then
            sampler "$sfile" & samp=$!; STARTED+=("$samp")
        fi
        if [[ $op == GET ]]; then
            out=$(curl -sS -o /dev/null --max-time "$CURL_MAX_TIME" \
                -w '%{http_code} %{size_download} %{time_total}' "$url" 2>&1); rc=$?
        else
            out=$(curl -sS -o "$TMP/put-response" --max-time "$CURL_MAX_TIME" -T "${OBJ_FILE[$size]}" \
                -w '%{http_code} %{size_upload} %{time_total}' "$url" 2>&1); rc=$?
        fi
        [[ -n "$samp" ]] && stop_pid "$samp"
        read -r code bytes t <<<"${out##*$'\n'}"
        if [[ $rc -ne 0 || ! "$code" =~ ^20[014]$ || "$bytes" != "${OBJ_BYTES[$size]}" ]]; then
            local body=""; [[ $op == PUT && -f "$TMP/put-response" ]] && body=" body: $(head -c 300 "$TMP/put-response" | tr '\n\t' '  ')"
            printf 'xfer\t%s\t%s\t%s\t%s\tERR\tcurl rc=%s %s%s\n' "$op" "$size" "$path" "$rep" "$rc" "$(tr '\n\t' '  ' <<<"$out")" "$body" >> "$RAW"
            log "$op $size via $path rep $rep FAILED: rc=$rc $out$body"
            osp_alive || true
            return 1
        fi
        mbps=$(awk -v b="$bytes" -v t="$t" 'BEGIN { printf "%.1f", b / t / 1e6 }')
        printf 'xfer\t%s\t%s\t%s\t%s\t%s\n' "$op" "$size" "$path" "$rep" "$mbps" >> "$RAW"
        log "$op $size via $path rep $rep: $mbps MB/s"
    }

    for ((rep = 1; rep <= REPS; rep++)); do
        # The order rotates every repetition: on a VM whose disk is slower than loopback, a fixed
        # order makes one path always upload right after another path's gigabyte.
        order=("${PATHS[@]:$(((rep - 1) % ${#PATHS[@]}))}" "${PATHS[@]:0:$(((rep - 1) % ${#PATHS[@]}))}")
        for size in "$MED_LABEL" "$LARGE_LABEL"; do
            for op in GET PUT; do
                for path in "${order[@]}"; do
                    transfer "$op" "$size" "$path" "$rep"
                    if [[ $op == PUT ]]; then
                        stored="$(put_stored "$size" "$path")"
                        if [[ $rep == 1 && ( $path == osp || $path == original ) ]]; then
                            want="$(sha256sum < "${OBJ_FILE[$size]}" | cut -d' ' -f1)"
                            got="$(sha256sum < "$stored" 2>/dev/null | cut -d' ' -f1)"
                            if [[ -n "$got" && "$got" == "$want" ]]; then
                                VERIFY+=("PUT $size via $path stored byte-identical by nginx (sha256 ok)")
                            else
                                VERIFY+=("PUT $size via $path stored object DIFFERS or is missing (sha256 '${got}', expected $want, size $(stat -c %s "$stored" 2>/dev/null || echo none))")
                            fi
                        fi
                        rm -f "$stored"   # drop the dirty pages before they hit the disk
                        sync              # and let writeback that already began finish before the next upload
                    fi
                done
            done
        done
    done
    for op in GET PUT; do
        v=$(cat "$TMP/sample.$op" 2>/dev/null)
        [[ -n "$v" ]] && printf 'rss\trss_max_large_%s\t%s\n' "${op,,}" "$v" >> "$RAW"
    done
    osp_alive && printf 'rss\thwm_after_large\t%s\n' "$(status_kib VmHWM)" >> "$RAW"
fi

# ---------------------------------------------------------------- 1 KiB GET rate
to_ms() {  # to_ms 1.23ms|456.78us|1.2s -> milliseconds
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) ; else if (v ~ /m$/) n *= 60000; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}
CLK_TCK=$(getconf CLK_TCK)
proc_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }  # utime+stime, all threads
nginx_counters() {  # "accepts requests" from nginx's stub_status
    curl -s --max-time 5 "http://127.0.0.1:$NGINX_PORT/_nginx_status" | awk 'NR == 3 { print $1, $3 }'
}
run_wrk() {  # run_wrk CONNS PATH ROUND DURATION [record]: wrk on URL[GET,1KiB,PATH]
    local c="$1" path="$2" round="$3" d="$4" t out rps p50 p99 errs before after conns_per_kreq
    t=$((c < 2 ? c : 2))
    local cpu_pid="${PROXY_PID[$path]:-}" cpu0=0 cpu1=0 cpu_us="" kind=wrk
    [[ " ${POLICY_PATHS[*]} " == *" $path "* ]] && kind=pwrk   # the policy section's rows
    [[ -n "$cpu_pid" ]] && cpu0=$(proc_cpu_ticks "$cpu_pid")
    before=$(nginx_counters)
    out=$(timeout $((d + 30)) wrk -t "$t" -c "$c" -d "${d}s" --timeout 5s --latency "${URL[GET,1KiB,$path]}" 2>&1)
    after=$(nginx_counters)
    [[ -n "$cpu_pid" ]] && cpu1=$(proc_cpu_ticks "$cpu_pid")
    [[ "${5:-}" == record ]] || return 0
    # backend connections nginx accepted per 1000 backend requests during the run (pooling check)
    conns_per_kreq=$(awk -v b="$before" -v a="$after" 'BEGIN { split(b, x, " "); split(a, y, " ");
        r = y[2] - x[2] - 1; if (r > 0) printf "%.1f", (y[1] - x[1] - 1) * 1000 / r }')
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    errs=$( { grep -E 'Non-2xx|Socket errors' <<<"$out" || true; } | sed 's/^ *//' | paste -sd ';' -)
    if [[ -z "$rps" || -z "$p50" ]]; then
        printf '%s\t%s\t%s\t%s\tERR\t\t\t%s\n' "$kind" "$c" "$path" "$round" "$(tr '\n\t' '  ' <<<"$out")" >> "$RAW"
        log "wrk -c $c via $path FAILED: $out"
        proc_alive "$path" || true
        return 1
    fi
    # CPU the proxy process itself spent per request (every path with a proxy process: not `direct`)
    [[ -n "$cpu_pid" ]] && cpu_us=$(awk -v t=$((cpu1 - cpu0)) -v k="$CLK_TCK" -v r="$rps" -v d="$d" \
        'BEGIN { if (r > 0) printf "%.0f", t / k / (r * d) * 1e6 }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$c" "$path" "$round" "$rps" "$(to_ms "$p50")" "$(to_ms "$p99")" "$errs" "$conns_per_kreq" "$cpu_us" >> "$RAW"
    log "wrk -c $c via $path round $round: $rps req/s, p50 $p50, p99 $p99, backend conns/1000 req: ${conns_per_kreq:-?}${cpu_us:+, proxy CPU $cpu_us us/req} ${errs:+($errs)}"
}

if ((RUN_MAIN)); then
    log "1 KiB GET: warm-up"
    for path in "${RATE_PATHS[@]}"; do run_wrk 16 "$path" 0 1; done
    # The paths in order in odd rounds and in reverse in even ones, so that no path always runs
    # right after the same other one (a fixed order would turn any effect of position into a bias).
    for ((round = 1; round <= WRK_ROUNDS; round++)); do
        order=("${RATE_PATHS[@]}")
        if ((round % 2 == 0)); then
            order=()
            for ((i = ${#RATE_PATHS[@]} - 1; i >= 0; i--)); do order+=("${RATE_PATHS[i]}"); done
        fi
        for c in "${CONNS[@]}"; do
            for path in "${order[@]}"; do run_wrk "$c" "$path" "$round" "$WRK_DURATION" record; done
        done
    done
    osp_alive && printf 'rss\thwm_end\t%s\n' "$(status_kib VmHWM)" >> "$RAW"
fi

# ---------------------------------------------------------------- allocations per request
# Heap allocations per presigned 1 KiB GET, counted by alloc_count.so (LD_PRELOAD) in a second osp
# with the same config: unlike CPU time on this shared machine, the count repeats to the decimal,
# so it shows what each hot-path change did. Skipped without a C compiler.
if ((RUN_MAIN)) && command -v cc >/dev/null; then
    if cc -O2 -shared -fPIC -o "$TMP/alloc_count.so" "$HERE/alloc_count.c" 2>"$TMP/alloc_count.cc.log"; then
        read -r ALLOC_PORT < <(free_ports 1)
        sed "s/http_port: $OSP_PORT/http_port: $ALLOC_PORT/" "$TMP/osp.yaml" > "$TMP/osp-alloc.yaml"
        ALLOC_COUNT_FILE="$TMP/alloc.counts" LD_PRELOAD="$TMP/alloc_count.so" \
            "$OSP_BIN" serve --config "$TMP/osp-alloc.yaml" >"$TMP/osp-alloc.log" 2>&1 &
        ALLOC_PID=$!; STARTED+=("$ALLOC_PID")
        if wait_port "$ALLOC_PORT" "$ALLOC_PID" osp-alloc; then
            alloc_url="$(python3 "$HERE/presign.py" "http://127.0.0.1:$ALLOC_PORT" get:obj-1k)"
            alloc_counts() { python3 -c 'import struct, sys; print(*struct.unpack("<QQ", open(sys.argv[1], "rb").read(16)))' "$TMP/alloc.counts"; }
            timeout 30 wrk -t2 -c16 -d1s "$alloc_url" >/dev/null 2>&1 || true
            read -r a0 b0 < <(alloc_counts)
            out="$(timeout 30 wrk -t2 -c16 -d4s "$alloc_url" 2>&1)" || true
            read -r a1 b1 < <(alloc_counts)
            n="$(awk '/requests in/ { print $1 }' <<<"$out")"
            if [[ -n "$n" && "$n" -gt 0 ]]; then
                printf 'allocs\tosp\t%s\t%s\t%s\n' "$n" "$((a1 - a0))" "$((b1 - b0))" >> "$RAW"
                log "allocations: $(( (a1 - a0) / n )) per request over $n presigned 1 KiB GETs"
            fi
        fi
        stop_pid "$ALLOC_PID"
    else
        log "alloc_count.c did not compile (see $TMP/alloc_count.cc.log): no allocation count"
    fi
fi

# ---------------------------------------------------------------- policy backends
# Four osp instances, identical but for `authorization:` (allow-all, rules, opa with its decision
# cache, and allow-all again as the control), all on the same nginx and bucket; 1 KiB GET rate
# interleaved across them. The OPA server
# is the repo's test server with a real Rego engine; its request counter shows whether the
# measured rounds were served from osp's decision cache.
if ((RUN_POLICY)); then
    OPA_PORT=""
    "$PYTHON" "$ROOT/integration/policy/opa_server.py" --port 0 --policy "$HERE/bench.rego" \
        >"$TMP/opa.out" 2>"$TMP/opa.log" &
    OPA_PID=$!; STARTED+=("$OPA_PID")
    for ((i = 0; i < 200; i++)); do
        OPA_PORT="$(awk '$1 == "READY" { print $2; exit }' "$TMP/opa.out" 2>/dev/null)"
        [[ -n "$OPA_PORT" ]] && break
        kill -0 "$OPA_PID" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n "$OPA_PORT" ]] || { cat "$TMP/opa.log" >&2; die "opa_server.py did not print READY within 20 s"; }
    opa_requests() {  # policy requests the OPA server has seen so far
        curl -s --max-time 5 "http://127.0.0.1:$OPA_PORT/__stats" \
            | python3 -c 'import json, sys; print(json.load(sys.stdin)["requests"])' 2>/dev/null || echo "?"
    }

    declare -A AUTHZ=(
        [allow-all]='authorization: {backend: allow-all}'
        [control]='authorization: {backend: allow-all}'
        [rules]='authorization:
  backend: rules
  rules:
    - {principals: [bench], buckets: [bench], prefix: "", actions: [read, list], effect: allow}
    - {principals: [bench], buckets: [bench], prefix: "secret/", actions: ["*"], effect: deny}'
        [opa]="authorization:
  backend: opa
  opa: {url: \"http://127.0.0.1:$OPA_PORT/v1/data/osp/allow\", timeout_ms: 2000}"
    )
    AUTHZ_CACHE='  cache: {allow_ttl_seconds: 60, deny_ttl_seconds: 5}'
    policy_config() {  # policy_config NAME PORT: an osp config that differs from the others only in authorization:
        printf 'server: {bind: 127.0.0.1, http_port: %s, threads: %s}\n' "$2" "$OSP_THREADS"
        printf 'logging: {access_log: off}\n'
        printf 'buckets:\n  bench: {host: 127.0.0.1, port: %s, tls: false, region: us-east-1, addressing_style: path, access_key: BACKENDAK, secret_key: backendsecret}\n' "$NGINX_PORT"
        printf 'keystore:\n  - {access_key: BENCHCLIENT, secret_key: benchsecret, principal: bench}\n'
        printf '%s\n' "${AUTHZ[$1]}"
        [[ $1 == allow-all || $1 == control ]] || printf '%s\n' "$AUTHZ_CACHE"
    }
    for name in "${POLICY_PATHS[@]}"; do
        port="${POLICY_PORT[$name]}"
        policy_config "$name" "$port" > "$TMP/osp-$name.yaml"
        "$OSP_BIN" check-config "$TMP/osp-$name.yaml" >"$TMP/osp-$name.check" 2>&1 \
            || { cat "$TMP/osp-$name.yaml" "$TMP/osp-$name.check" >&2; die "osp check-config failed for $name"; }
        "$OSP_BIN" serve --config "$TMP/osp-$name.yaml" >"$TMP/osp-$name.log" 2>&1 &
        PROXY_PID[$name]=$!; PROXY_LOG[$name]="$TMP/osp-$name.log"; STARTED+=("${PROXY_PID[$name]}")
        wait_port "$port" "${PROXY_PID[$name]}" "osp ($name)" || { cat "$TMP/osp-$name.log" >&2; die "osp ($name) did not start"; }
        mapfile -t PRESIGNED < <(python3 "$HERE/presign.py" "http://127.0.0.1:$port" \
            get:obj-1k get:secret/obj-1k put:put/policy-probe-$name)
        [[ ${#PRESIGNED[@]} -eq 3 ]] || die "presign.py failed for $name"
        URL[GET,1KiB,$name]="${PRESIGNED[0]}"
        URL[GET,secret,$name]="${PRESIGNED[1]}"
        URL[PUT,probe,$name]="${PRESIGNED[2]}"
    done
    log "policy: OPA server :$OPA_PORT (pid $OPA_PID); osp $(for n in "${POLICY_PATHS[@]}"; do printf '%s :%s (pid %s) ' "$n" "${POLICY_PORT[$n]}" "${PROXY_PID[$n]}"; done)"

    # Is each backend really deciding? The 1 KiB GET must pass everywhere; a GET under secret/ and a
    # PUT must be refused by rules and opa (allow-all lets them through to nginx).
    checks=()
    for name in "${POLICY_PATHS[@]}"; do
        want_get=200 want_secret=403 want_put=403
        [[ $name == allow-all || $name == control ]] && { want_secret=200; want_put=201; }
        got_get=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${URL[GET,1KiB,$name]}")
        got_secret=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${URL[GET,secret,$name]}")
        got_put=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -T "$DATA/bench/obj-1k" "${URL[PUT,probe,$name]}")
        verdict=ok
        [[ "$got_get $got_secret $got_put" == "$want_get $want_secret $want_put" ]] || verdict="UNEXPECTED (want $want_get/$want_secret/$want_put)"
        checks+=("$name: GET obj-1k $got_get, GET secret/obj-1k $got_secret, PUT $got_put — $verdict")
        log "policy check ${checks[-1]}"
        # warm-up: a few requests (the opa instance's decision cache fills here), then 1 s of wrk
        for ((i = 0; i < 5; i++)); do curl -s -o /dev/null --max-time 10 "${URL[GET,1KiB,$name]}"; done
    done
    rm -f "$DATA/bench/put/policy-probe-"*
    printf 'meta\tpolicy_checks\t%s\n' "$(IFS=';'; echo "${checks[*]}" | sed 's/;/; /g')" >> "$RAW"
    log "policy: warm-up"
    for name in "${POLICY_PATHS[@]}"; do run_wrk 16 "$name" 0 1; done

    opa_before=$(opa_requests)
    printf 'meta\tpolicy_opa_warmup\t%s\n' "$opa_before" >> "$RAW"
    printf 'meta\tpolicy_load_start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW"
    printf 'meta\tpolicy_rounds\t%s\n' "$POLICY_ROUNDS" >> "$RAW"
    printf 'meta\tpolicy_duration\t%s s\n' "$POLICY_DURATION" >> "$RAW"
    policy_t0=$SECONDS
    for ((round = 1; round <= POLICY_ROUNDS; round++)); do
        for c in "${POLICY_CONNS[@]}"; do
            # Rotate the start each round so no backend always runs first, and walk the list forwards
            # in odd rounds and backwards in even ones: rotation alone keeps the cyclic order, so
            # each backend would always run right after the same other one (allow-all after opa).
            n=${#POLICY_PATHS[@]}
            for ((k = 0; k < n; k++)); do
                if ((round % 2 == 1)); then step=$k; else step=$((n - k)); fi
                name="${POLICY_PATHS[$(((round - 1 + step) % n))]}"
                run_wrk "$c" "$name" "$round" "$POLICY_DURATION" record
            done
        done
    done
    opa_after=$(opa_requests)
    printf 'meta\tpolicy_seconds\t%s\n' "$((SECONDS - policy_t0))" >> "$RAW"
    opa_measured='?'
    [[ $opa_before =~ ^[0-9]+$ && $opa_after =~ ^[0-9]+$ ]] && opa_measured=$((opa_after - opa_before))
    printf 'meta\tpolicy_opa_measured\t%s\n' "$opa_measured" >> "$RAW"
    printf 'meta\tpolicy_load_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW"
    log "policy: OPA server saw $opa_before requests up to the end of the warm-up, $opa_measured during the measured rounds"

fi
# Two processes at once, roles swapped (the crossover; BENCH_CROSS, on with the policy section):
# on these shared 2-vCPU VMs one instance reads several per cent above or below another for as long
# as it runs (the control above), and the machine's load swings from one cell to the next, both
# more than the 5 % the target allows. So two osp processes, P and Q, are measured at the same
# time — wrk on each, together — one serving allow-all and the other the backend under test, and
# then the other way round (`authorization:` rewritten, SIGHUP): what the machine does to a cell it
# does to both sides, and each process serves each role equally often. Per cell the backend's rate
# and CPU per request over allow-all's; the report takes the geometric mean over the cells with a
# bootstrap interval. `control` (allow-all on both sides) shows what the design itself reads.
if ((RUN_POLICY && CROSS)); then
    declare -A CROSS_URL=() CROSS_SECRET=() CROSS_PID=() CROSS_LOG=()
    for side in P Q; do
        port="${POLICY_PORT[cross-$side]}"
        policy_config allow-all "$port" > "$TMP/osp-cross-$side.yaml"
        "$OSP_BIN" serve --config "$TMP/osp-cross-$side.yaml" >"$TMP/osp-cross-$side.log" 2>&1 &
        CROSS_PID[$side]=$!; CROSS_LOG[$side]="$TMP/osp-cross-$side.log"; STARTED+=("${CROSS_PID[$side]}")
        wait_port "$port" "${CROSS_PID[$side]}" "osp (crossover $side)" || { cat "${CROSS_LOG[$side]}" >&2; die "osp (crossover $side) did not start"; }
        mapfile -t PRESIGNED < <(python3 "$HERE/presign.py" "http://127.0.0.1:$port" get:obj-1k get:secret/obj-1k)
        [[ ${#PRESIGNED[@]} -eq 2 ]] || die "presign.py failed for crossover side $side"
        CROSS_URL[$side]="${PRESIGNED[0]}"; CROSS_SECRET[$side]="${PRESIGNED[1]}"
    done
    cross_switch() {  # cross_switch SIDE NAME: SIDE serves NAME's authorization: from the next request on
        local side="$1" name="$2" want=200 reloads i got log="${CROSS_LOG[$1]}"
        [[ $name == rules || $name == opa ]] && want=403
        reloads=$(grep -c 'config reloaded' "$log" || true)
        policy_config "$name" "${POLICY_PORT[cross-$side]}" > "$TMP/osp-cross-$side.yaml"
        kill -HUP "${CROSS_PID[$side]}"
        for ((i = 0; i < 100; i++)); do
            (( $(grep -c 'config reloaded' "$log" || true) > reloads )) && break
            sleep 0.05
        done
        got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "${CROSS_SECRET[$side]}")
        [[ $got == "$want" ]] || die "crossover: after switching $side to $name, GET secret/obj-1k answered $got, not $want"
        for ((i = 0; i < 5; i++)); do curl -s -o /dev/null --max-time 10 "${CROSS_URL[$side]}"; done
    }
    cross_cell() {  # cross_cell CONNS NAME ROUND SIDE: wrk on P and Q at once, SIDE serving NAME, the other allow-all
        local c="$1" name="$2" round="$3" side="$4" other s errs=""
        other=$([[ $side == P ]] && echo Q || echo P)
        local -A ticks0 ticks1 reqs
        for s in P Q; do ticks0[$s]=$(proc_cpu_ticks "${CROSS_PID[$s]}"); done
        local pids=()
        for s in P Q; do
            timeout $((CROSS_DURATION + 30)) wrk -t 1 -c "$c" -d "${CROSS_DURATION}s" --timeout 5s "${CROSS_URL[$s]}" \
                >"$TMP/cross-$s.out" 2>&1 &
            pids+=($!)
        done
        wait "${pids[@]}" 2>/dev/null || true
        for s in P Q; do
            ticks1[$s]=$(proc_cpu_ticks "${CROSS_PID[$s]}")
            reqs[$s]=$(awk '/requests in/ { print $1 }' "$TMP/cross-$s.out")
            errs+=$( { grep -E 'Non-2xx|Socket errors' "$TMP/cross-$s.out" || true; } | sed "s/^ */$s: /" | paste -sd ';' -)
        done
        if [[ -z "${reqs[P]}" || -z "${reqs[Q]}" || "${reqs[P]}" == 0 || "${reqs[Q]}" == 0 ]]; then
            printf 'xwrk\t%s\t%s\t%s\t%s\tERR\t\t\t\t%s\n' "$c" "$name" "$round" "$side" "wrk failed" >> "$RAW"
            return
        fi
        local hz; hz=$(getconf CLK_TCK)
        per_request_us() { awk -v t="$1" -v n="$2" -v hz="$hz" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }'; }
        # the backend's side first, then allow-all's: requests, CPU µs per request
        printf 'xwrk\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$name" "$round" "$side" \
            "${reqs[$side]}" "${reqs[$other]}" \
            "$(per_request_us $((ticks1[$side] - ticks0[$side])) "${reqs[$side]}")" \
            "$(per_request_us $((ticks1[$other] - ticks0[$other])) "${reqs[$other]}")" "$errs" >> "$RAW"
    }
    log "crossover: osp P :${POLICY_PORT[cross-P]} (pid ${CROSS_PID[P]}), Q :${POLICY_PORT[cross-Q]} (pid ${CROSS_PID[Q]}); $CROSS_ROUNDS rounds of $CROSS_DURATION s cells"
    printf 'meta\tcross_rounds\t%s\n' "$CROSS_ROUNDS" >> "$RAW"
    printf 'meta\tcross_duration\t%s s\n' "$CROSS_DURATION" >> "$RAW"
    cross_t0=$SECONDS
    for ((round = 1; round <= CROSS_ROUNDS; round++)); do
        for name in control rules opa; do
            backend=$name; [[ $name == control ]] && backend=allow-all
            for side in P Q; do
                other=$([[ $side == P ]] && echo Q || echo P)
                cross_switch "$side" "$backend"; cross_switch "$other" allow-all
                for c in "${POLICY_CONNS[@]}"; do cross_cell "$c" "$name" "$round" "$side"; done
            done
        done
    done
    printf 'meta\tcross_seconds\t%s\n' "$((SECONDS - cross_t0))" >> "$RAW"
    printf 'meta\tcross_reloads\t%s\n' "$(cat "${CROSS_LOG[P]}" "${CROSS_LOG[Q]}" | grep -c 'config reloaded' || true)" >> "$RAW"
    log "crossover: done in $((SECONDS - cross_t0)) s"
fi
printf 'meta\tload_end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW"
printf 'meta\tverify\t%s\n' "$(IFS=';'; echo "${VERIFY[*]}" | sed 's/;/; /g')" >> "$RAW"

# ---------------------------------------------------------------- report
python3 "$HERE/report.py" "$RAW" > "$OUT/results.md"
cat "$OUT/results.md"
log "results: $OUT/results.md (raw: $RAW, osp logs: $OUT/osp*.log)"
exit 0

#!/usr/bin/env bash
# Installs what building and testing osp needs on a fresh Debian machine (idempotent, quiet):
# the C libraries osp links, the servers the tests and benchmarks run, and the Python clients.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# docker-compose: only to validate docker/docker-compose.yml (`docker-compose config`); no engine runs here.
# tinyproxy: the corporate forward proxy (CONNECT and absolute-form) in test_upstream_proxy.py.
# rclone, s3cmd: S3 clients with their own signers (Go; Python with SigV4 and SigV2) in
# test_more_clients.py (pyarrow, Polars and the MinIO SDK are in requirements.txt).
apt_packages=(libcurl4-openssl-dev libhiredis-dev libssl-dev redis-server haproxy nginx wrk curl docker-compose tinyproxy rclone s3cmd)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! python3 -c "import moto, boto3, pytest, werkzeug, awscli, pyarrow, polars, minio" 2>/dev/null || [[ -n ${OSP_FORCE_PIP:-} ]]; then
  echo "setup: installing Python test clients"
  python3 -m pip install -q --disable-pip-version-check -r "$here/requirements.txt"
fi
# A real Rego engine (OPA's Go evaluator) behind the OPA-compatible test server; its wheel declares a
# newer Python than it needs, hence --ignore-requires-python.
if ! python3 -c "import opa_bindings" 2>/dev/null; then
  echo "setup: installing the Rego engine for the OPA-compatible test server"
  python3 -m pip install -q --disable-pip-version-check --ignore-requires-python opa-golib-python-bindings==0.4.4
fi
command -v aws >/dev/null || { echo "setup: aws cli missing after install" >&2; exit 1; }
command -v swift >/dev/null || { echo "setup: the Swift toolchain (6.1 or newer) must be on PATH" >&2; exit 1; }

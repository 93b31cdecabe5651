#!/usr/bin/env bash
# The osp demo: starts a signature-verifying S3 backend, an OPA-compatible policy engine (real Rego),
# osp in front of both with the demo config, and runs an aws cli session through osp. Everything
# listens on 127.0.0.1 and is stopped on exit.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash integration/setup.sh
swift build --product osp

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "demo: nothing listens on port $1" >&2; return 1
}

# Demo-only keys, generated per run: the backend's, and the one osp issues to the client.
export BACKEND_ACCESS_KEY="DEMOBACKEND$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export BACKEND_SECRET_KEY="$(head -c24 /dev/urandom | base64 | tr -d '/+=')"
export CLIENT_ACCESS_KEY="DEMOCLIENT$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export CLIENT_SECRET_KEY="$(head -c24 /dev/urandom | base64 | tr -d '/+=')"
export BACKEND_PORT=$(free_port) OSP_PORT=$(free_port) OPA_PORT=$(free_port)

echo "== starting the signature-verifying S3 backend on 127.0.0.1:$BACKEND_PORT"
python3 integration/s3backend/__main__.py --port "$BACKEND_PORT" --region us-east-1 \
  --credentials "$BACKEND_ACCESS_KEY:$BACKEND_SECRET_KEY" --journal "$work/journal.jsonl" >"$work/backend.log" 2>&1 &
pids+=($!)
wait_for_port "$BACKEND_PORT"

echo "== starting the policy engine (Rego: alice may use team/ of proxy-bucket01, except team/secret/)"
python3 integration/policy/opa_server.py --port "$OPA_PORT" --policy integration/policy/osp.rego >"$work/opa.out" 2>&1 &
pids+=($!)
wait_for_port "$OPA_PORT"

backend() { AWS_ACCESS_KEY_ID=$BACKEND_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$BACKEND_SECRET_KEY AWS_DEFAULT_REGION=us-east-1 \
  aws --endpoint-url "http://127.0.0.1:$BACKEND_PORT" "$@"; }
backend s3 mb s3://real-bucket01 >/dev/null

echo "== starting osp on 127.0.0.1:$OSP_PORT"
.build/debug/osp check-config integration/demo/osp-demo.yaml
.build/debug/osp serve --config integration/demo/osp-demo.yaml >"$work/access.log" 2>"$work/osp.log" &
pids+=($!)
wait_for_port "$OSP_PORT"

export AWS_ACCESS_KEY_ID=$CLIENT_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$CLIENT_SECRET_KEY AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$work/aws-config
osp() { echo "\$ aws $*" | sed "s|$work|.|g"; aws --endpoint-url "http://127.0.0.1:$OSP_PORT" "$@"; }

echo "== an aws cli session through osp, with osp-issued keys"
echo "hello from osp" >"$work/hello.txt"
head -c $((24 * 1024 * 1024)) /dev/urandom >"$work/big.bin"
osp s3 cp "$work/hello.txt" s3://proxy-bucket01/team/demo/hello.txt
osp s3 cp "$work/big.bin" s3://proxy-bucket01/team/demo/big.bin --only-show-errors
osp s3 ls s3://proxy-bucket01/team/demo/
osp s3 cp s3://proxy-bucket01/team/demo/hello.txt -
osp s3 cp s3://proxy-bucket01/team/demo/big.bin "$work/big.back" --only-show-errors
cmp "$work/big.bin" "$work/big.back" && echo "24 MiB multipart upload read back byte-identical"
url=$(aws --endpoint-url "http://127.0.0.1:$OSP_PORT" s3 presign s3://proxy-bucket01/team/demo/hello.txt --expires-in 60)
echo "presigned GET: $(curl -sf "$url")"

echo "== a browser form upload (S3 POST Object): boto3's generate_presigned_post, submitted as a page would"
python3 - "$OSP_PORT" <<'PY'
import sys

import boto3
import urllib3

s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{sys.argv[1]}")
post = s3.generate_presigned_post("proxy-bucket01", "team/demo/${filename}", ExpiresIn=60,
                                  Conditions=[["starts-with", "$key", "team/demo/"], ["content-length-range", 0, 1024]])
body, content_type = urllib3.encode_multipart_formdata({**post["fields"], "file": ("form.txt", b"sent by a web form\n")})
answer = urllib3.request("POST", post["url"], body=body, headers={"Content-Type": content_type}, timeout=30)
print(f"POST {post['url']} (key team/demo/${{filename}}, file form.txt) -> {answer.status}")
PY
osp s3 cp s3://proxy-bucket01/team/demo/form.txt -

echo "== stored at the backend under the real bucket name, no chunk framing:"
backend s3 cp s3://real-bucket01/team/demo/hello.txt -

before=$(wc -l <"$work/journal.jsonl")
echo "== refused by the policy: team/secret/ is excepted from alice's grant"
osp s3 cp "$work/hello.txt" s3://proxy-bucket01/team/secret/hello.txt 2>&1 | tail -1 || true
echo "== refused by osp: a wrong secret"
AWS_SECRET_ACCESS_KEY=wrong aws --endpoint-url "http://127.0.0.1:$OSP_PORT" s3 ls s3://proxy-bucket01/team/ 2>&1 | tail -1 || true
after=$(wc -l <"$work/journal.jsonl")
echo "backend requests during the two refused calls: $((after - before))"
echo "== osp's access log (one JSON line per request; stdout by default) for the last refused call:"
tail -n 1 "$work/access.log"
osp s3 rm s3://proxy-bucket01/team/demo/ --recursive
echo "== demo done"

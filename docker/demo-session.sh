#!/usr/bin/env bash
# The compose demo's aws cli session (service `client`, image amazon/aws-cli): two users with keys
# osp issued (kept in Redis), talking S3 through the load balancer to two osp replicas, which
# re-sign for MinIO. Allowed and refused requests, as decided by docker/opa/policy.rego.
# Exits non-zero if anything turns out differently than the policy says, so
# `docker compose run --rm client` doubles as a smoke test of the whole stack.
set -euo pipefail

endpoint=${OSP_ENDPOINT:-http://lb:6190}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export AWS_CONFIG_FILE=$work/config AWS_SHARED_CREDENTIALS_FILE=$work/credentials AWS_PAGER=""
unexpected=0

section() { printf '\n== %s\n' "$*"; }
# `as USER aws-args...`: one aws call through osp, shown as typed (no keys: they live in the profile).
as() {
  local user=$1; shift
  echo "[$user] \$ aws $*"
  aws --endpoint-url "$endpoint" --profile "$user" "$@"
}
# `refused USER aws-args...`: a call the policy must refuse: 403 AccessDenied (a refused HEAD, as
# `aws s3 cp` sends first, has no body to carry the code, so the cli shows a bare 403).
refused() {
  local user=$1 output; shift
  echo "[$user] \$ aws $*"
  if output=$(aws --endpoint-url "$endpoint" --profile "$user" "$@" 2>&1); then
    echo "UNEXPECTED: this was allowed"; unexpected=$((unexpected + 1))
  elif grep -q -e AccessDenied -e '(403)' <<<"$output"; then
    echo "refused: $(grep -m1 -o 'An error occurred ([^)]*) when calling the [A-Za-z0-9]* operation' <<<"$output")"
  else
    echo "UNEXPECTED: failed, but not with AccessDenied:"; echo "$output"; unexpected=$((unexpected + 1))
  fi
}

section "configure the keys osp issued (seeded into Redis by redis-init)"
for user in alice bob; do
  upper=$(tr '[:lower:]' '[:upper:]' <<<"$user")
  access_key_var=${upper}_ACCESS_KEY secret_key_var=${upper}_SECRET_KEY
  aws configure set aws_access_key_id "${!access_key_var}" --profile "$user"
  aws configure set aws_secret_access_key "${!secret_key_var}" --profile "$user"
  aws configure set region us-east-1 --profile "$user"
  echo "profile $user: access key ${!access_key_var}"
done

section "wait until osp answers through the load balancer ($endpoint)"
deadline=$((SECONDS + 120))
until aws --endpoint-url "$endpoint" --profile bob s3 ls s3://demo/shared/ >/dev/null 2>&1; do
  if ((SECONDS >= deadline)); then
    echo "osp did not answer through $endpoint within 120 s" >&2
    exit 1
  fi
  sleep 2
done
echo "ready"

section "alice: make a bucket, upload, list, download, copy"
if aws --endpoint-url "$endpoint" --profile alice s3api head-bucket --bucket alice-scratch >/dev/null 2>&1; then
  echo "(alice-scratch exists from an earlier run)"
else
  as alice s3 mb s3://alice-scratch
fi
echo "hello from osp" >hello.txt
head -c $((20 * 1024 * 1024)) /dev/urandom >big.bin
as alice s3 cp hello.txt s3://demo/team/hello.txt
as alice s3 cp big.bin s3://demo/team/big.bin --only-show-errors
as alice s3 ls s3://demo/team/
as alice s3 cp s3://demo/team/hello.txt -
as alice s3 cp s3://demo/team/big.bin big.back --only-show-errors
if [[ $(sha256sum <big.bin) == $(sha256sum <big.back) ]]; then
  echo "20 MiB multipart upload read back byte-identical"
else
  echo "UNEXPECTED: the 20 MiB object came back different"; unexpected=$((unexpected + 1))
fi
as alice s3 cp s3://demo/team/hello.txt s3://alice-scratch/hello.txt
as alice s3 ls s3://alice-scratch/

section "bob (a reader): read what minio-init put under shared/"
as bob s3 cp s3://demo/shared/welcome.txt -

section "refused by the policy"
refused alice s3 cp hello.txt s3://demo/team/secret/plan.txt
refused alice s3 ls s3://demo/team/secret/
refused bob s3 cp hello.txt s3://demo/shared/notes.txt
refused bob s3 cp s3://demo/team/hello.txt -

section "round robin: the load balancer names the replica that answered (X-Osp-Replica)"
if command -v curl >/dev/null; then
  url=$(aws --endpoint-url "$endpoint" --profile bob s3 presign s3://demo/shared/welcome.txt --expires-in 300)
  for _ in 1 2 3 4; do
    curl -fsS -D - -o /dev/null "$url" | tr -d '\r' | grep -i '^x-osp-replica' || true
  done
else
  echo "(no curl in this image; 'docker compose logs lb' shows which replica served each request)"
fi

section "done"
if ((unexpected)); then
  echo "$unexpected step(s) did not go as the policy says" >&2
  exit 1
fi
echo "every request was allowed or refused as docker/opa/policy.rego says"

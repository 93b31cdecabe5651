#!/bin/sh
# One-shot setup of the demo's MinIO (service minio-init, image minio/mc): the bucket `demo`, a
# sample object readers can fetch, and a MinIO user for osp, so osp never signs with the root key.
# The keys of that user go to Redis (docker/redis/seed.sh); clients never see them. Idempotent:
# `docker compose up` may run it again.
set -eu

mc alias set local "http://${MINIO_HOST:-minio}:9000" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing local/demo
printf 'Welcome to the osp demo. Readers may fetch everything under shared/.\n' | mc pipe local/demo/shared/welcome.txt
mc admin user add local "$OSP_BACKEND_ACCESS_KEY" "$OSP_BACKEND_SECRET_KEY" >/dev/null
if ! mc admin user info local "$OSP_BACKEND_ACCESS_KEY" | grep -q readwrite; then
  mc admin policy attach local readwrite --user "$OSP_BACKEND_ACCESS_KEY" >/dev/null
fi
echo "minio-init: bucket demo, shared/welcome.txt, and osp's backend user (readwrite) are ready"

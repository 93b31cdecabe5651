#!/bin/sh
# One-shot seeding of the demo's Redis (service redis-init, image redis), in osp's key schema
# (docs/redis-schema.md, prefix osp:):
#   osp:key:<access key>  the keys osp issues to clients: secret, principal, groups
#   osp:creds:<bucket>    what osp signs with at MinIO, per bucket as named in docker/osp.yaml
# Every osp replica reads the same keys, so a key issued or revoked here holds for all of them
# once their caches expire (secrets.cache.ttl_seconds). Idempotent. The password is taken from
# REDISCLI_AUTH by redis-cli, never from the command line.
set -eu

cli() { redis-cli -h "${REDIS_HOST:-redis}" -p "${REDIS_PORT:-6379}" "$@"; }

cli HSET "osp:key:$ALICE_ACCESS_KEY" secret "$ALICE_SECRET_KEY" principal alice groups "team,readers" >/dev/null
cli HSET "osp:key:$BOB_ACCESS_KEY" secret "$BOB_SECRET_KEY" principal bob groups readers >/dev/null
for bucket in demo alice-scratch; do
  cli HSET "osp:creds:$bucket" access_key "$OSP_BACKEND_ACCESS_KEY" secret_key "$OSP_BACKEND_SECRET_KEY" >/dev/null
done

# redis-cli does not always turn an error reply into an exit status: read back what was written.
[ "$(cli HGET "osp:key:$ALICE_ACCESS_KEY" principal)" = alice ] || { echo "redis-init: seeding failed" >&2; exit 1; }
[ "$(cli HGET "osp:key:$BOB_ACCESS_KEY" principal)" = bob ] || { echo "redis-init: seeding failed" >&2; exit 1; }
[ "$(cli HGET osp:creds:alice-scratch access_key)" = "$OSP_BACKEND_ACCESS_KEY" ] || { echo "redis-init: seeding failed" >&2; exit 1; }
echo "redis-init: client keys of alice and bob, and backend credentials for demo and alice-scratch, are in Redis"

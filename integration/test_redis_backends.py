"""The Redis backends' key schema (docs/redis-schema.md), written the way an operator would.

Starts a throwaway `redis-server` (no persistence, loopback only) and writes every documented key
with `redis-cli` — no redis-py needed. For now this checks the schema helpers themselves; the
through-osp tests (`secrets`/`authorization`/`credentials` backed by Redis) reuse the `redis` fixture
and `write_schema` once osp's config wires the Redis backends in.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time

import botocore.exceptions
import pytest

from conftest import ALIAS_BUCKET, REAL_BUCKET, REGION, _osp_env, _remember
from osptest import processes
from osptest.clients import BACKEND_KEYS, s3_client
from osptest.s3checks import exists_at_backend, stored_bytes

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")

pytestmark = pytest.mark.skipif(
    REDIS_SERVER is None or REDIS_CLI is None, reason="redis-server / redis-cli not installed"
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """A `redis-server` child process and `redis-cli` against it."""

    def __init__(self, workdir: str, password: str | None = None, port: int | None = None):
        self.port = port or _free_port()
        self.password = password
        args = [
            REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--daemonize", "no", "--dir", workdir, "--loglevel", "warning",
        ]
        if password:
            args += ["--requirepass", password]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.cli("PING") == "PONG":
                    return
            except subprocess.CalledProcessError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not answer PING within 10 s")
            time.sleep(0.02)

    def cli(self, *args: str, db: int = 0) -> str:
        command = [REDIS_CLI, "-h", "127.0.0.1", "-p", str(self.port), "-n", str(db)]
        if self.password:
            command += ["--no-auth-warning", "-a", self.password]
        out = subprocess.run(command + list(args), check=True, capture_output=True, text=True, timeout=10)
        text = out.stdout.strip()
        if text.startswith(("ERR", "WRONGTYPE", "NOAUTH", "WRONGPASS")):
            raise RuntimeError(f"redis-cli {args[0]}: {text}")
        return text

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)


def write_schema(redis: Redis, prefix: str = "osp:", *, keys=(), grants=None, group_grants=None,
                 bucket_creds=None, principal_creds=None, db: int = 0) -> None:
    """Writes osp's Redis schema.

    keys: [(access_key, secret, principal, [groups])]
    grants / group_grants: {principal_or_group: [grant dicts]}  (Grant JSON form)
    bucket_creds: {bucket: (access_key, secret_key[, session_token])}
    principal_creds: {(principal, bucket): (access_key, secret_key[, session_token])}
    """
    for access_key, secret, principal, groups in keys:
        redis.cli("HSET", f"{prefix}key:{access_key}", "secret", secret, "principal", principal,
                  "groups", ",".join(groups), db=db)
    for principal, items in (grants or {}).items():
        redis.cli("SET", f"{prefix}grants:{principal}", json.dumps(items), db=db)
    for group, items in (group_grants or {}).items():
        redis.cli("SET", f"{prefix}grants:group:{group}", json.dumps(items), db=db)

    def creds(key: str, value: tuple) -> None:
        fields = ["access_key", value[0], "secret_key", value[1]]
        if len(value) > 2 and value[2]:
            fields += ["session_token", value[2]]
        redis.cli("HSET", key, *fields, db=db)

    for bucket, value in (bucket_creds or {}).items():
        creds(f"{prefix}creds:{bucket}", value)
    for (principal, bucket), value in (principal_creds or {}).items():
        creds(f"{prefix}creds:{principal}:{bucket}", value)


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    server = Redis(str(tmp_path_factory.mktemp("redis")), password="it-redis-password")
    try:
        yield server
    finally:
        server.stop()


TEAM_GRANTS = [{"buckets": ["data"], "prefix": "team/", "actions": ["read", "list", "write"], "effect": "allow"}]
ALICE_GRANTS = [{"principals": ["*"], "buckets": ["data"], "prefix": "team/secret/", "actions": ["*"], "effect": "deny"}]


def test_schema_round_trips_through_redis_cli(redis):
    write_schema(
        redis, "it:",
        keys=[("AKIDALICE", "alice-secret", "alice", ["team", "admins"])],
        grants={"alice": ALICE_GRANTS},
        group_grants={"team": TEAM_GRANTS},
        bucket_creds={"data": ("BUCKETAK", "bucket-secret")},
        principal_creds={("alice", "data"): ("ALICEAK", "alice-backend-secret", "tok")},
        db=2,
    )
    fields = redis.cli("HGETALL", "it:key:AKIDALICE", db=2).splitlines()
    assert dict(zip(fields[::2], fields[1::2])) == {
        "secret": "alice-secret", "principal": "alice", "groups": "team,admins"}
    assert json.loads(redis.cli("GET", "it:grants:alice", db=2)) == ALICE_GRANTS
    assert json.loads(redis.cli("GET", "it:grants:group:team", db=2)) == TEAM_GRANTS
    creds = redis.cli("HGETALL", "it:creds:alice:data", db=2).splitlines()
    assert dict(zip(creds[::2], creds[1::2])) == {
        "access_key": "ALICEAK", "secret_key": "alice-backend-secret", "session_token": "tok"}
    assert redis.cli("HGET", "it:creds:data", "access_key", db=2) == "BUCKETAK"
    # The database index separates gateways: nothing landed in db 0.
    assert redis.cli("EXISTS", "it:key:AKIDALICE") == "0"


def test_redis_refuses_clients_without_the_password(redis):
    out = subprocess.run([REDIS_CLI, "-p", str(redis.port), "GET", "x"], capture_output=True, text=True, timeout=10)
    assert "NOAUTH" in out.stdout + out.stderr


# --- through osp: secrets, grants and backend credentials all from Redis ------------------------------

REDIS_CLIENT = ("AKIDDAVEREDIS01", "dave-redis-secret-01")


@pytest.fixture(scope="module")
def redis_osp(redis, backend, workdir):
    write_schema(
        redis, "it:",
        keys=[(REDIS_CLIENT[0], REDIS_CLIENT[1], "dave", ["team"])],
        group_grants={"team": [{"buckets": [ALIAS_BUCKET], "prefix": "team/", "actions": ["read", "list", "write"],
                                "effect": "allow"}]},
        grants={"dave": [{"buckets": [ALIAS_BUCKET], "prefix": "team/secret/", "actions": ["*"], "effect": "deny"}]},
        principal_creds={("dave", ALIAS_BUCKET): BACKEND_KEYS},
    )
    port = processes.free_port()
    config = f"""
server: {{bind: 127.0.0.1, http_port: {port}, threads: 2}}
buckets:
  {ALIAS_BUCKET}: {{host: 127.0.0.1, port: {backend.port}, region: {REGION}, backend_bucket: {REAL_BUCKET}}}
secrets: {{backend: redis, cache: {{ttl_seconds: 300, negative_ttl_seconds: 1}}}}
authorization: {{backend: redis, cache: {{allow_ttl_seconds: 1, deny_ttl_seconds: 1}}}}
credentials: {{backend: redis}}
redis: {{host: 127.0.0.1, port: {redis.port}, password: "{redis.password}", key_prefix: "it:", timeout_ms: 300, grants_ttl_seconds: 1}}
"""
    server = processes.start_osp(config, port, workdir, _osp_env(), "osp-redis")
    _remember(server.process)
    yield server
    processes.stop(server.process)


def _code(call):
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        call()
    return refused.value.response["ResponseMetadata"]["HTTPStatusCode"], refused.value.response["Error"]["Code"]


def test_redis_backed_key_grants_and_credentials_through_osp(redis_osp, backend_s3, journal, prefix):
    dave = s3_client(redis_osp.url, REDIS_CLIENT)
    dave.put_object(Bucket=ALIAS_BUCKET, Key=f"team/{prefix}ok", Body=b"from redis")
    assert stored_bytes(backend_s3, REAL_BUCKET, f"team/{prefix}ok") == b"from redis"
    journal.reset()
    assert _code(lambda: dave.put_object(Bucket=ALIAS_BUCKET, Key=f"team/secret/{prefix}no", Body=b"x")) == (403, "AccessDenied")
    assert _code(lambda: dave.put_object(Bucket=ALIAS_BUCKET, Key=f"other/{prefix}no", Body=b"x")) == (403, "AccessDenied")
    unknown = s3_client(redis_osp.url, ("AKIDUNKNOWN0001", "nope"))
    assert _code(lambda: unknown.list_objects_v2(Bucket=ALIAS_BUCKET)) == (403, "InvalidAccessKeyId")
    assert journal.journal() == []
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"team/secret/{prefix}no")


def test_redis_down_means_503_and_osp_recovers_when_it_is_back(redis_osp, redis, backend_s3, journal, prefix, tmp_path):
    dave = s3_client(redis_osp.url, REDIS_CLIENT)
    port, password = redis.port, redis.password
    redis.stop()
    time.sleep(1.2)  # past the grants and decision TTLs
    try:
        assert _code(lambda: dave.put_object(Bucket=ALIAS_BUCKET, Key=f"team/{prefix}down", Body=b"x")) == \
            (503, "ServiceUnavailable")
        assert journal.journal() == []
    finally:
        restarted = Redis(str(tmp_path), password=password, port=port)
        redis.process = restarted.process
    write_schema(
        redis, "it:",
        keys=[(REDIS_CLIENT[0], REDIS_CLIENT[1], "dave", ["team"])],
        group_grants={"team": [{"buckets": [ALIAS_BUCKET], "prefix": "team/", "actions": ["read", "list", "write"],
                                "effect": "allow"}]},
        principal_creds={("dave", ALIAS_BUCKET): BACKEND_KEYS},
    )
    dave.put_object(Bucket=ALIAS_BUCKET, Key=f"team/{prefix}back", Body=b"recovered")
    assert stored_bytes(backend_s3, REAL_BUCKET, f"team/{prefix}back") == b"recovered"

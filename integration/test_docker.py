"""The Docker demo (docker/): `docker compose -f docker/docker-compose.yml up --build`.

No Docker engine runs here, so no image is pulled or built. Instead the compose file is validated by
`docker-compose config` (Debian's docker-compose) and its structure checked, and every file it mounts
is exercised with the real program it configures, on loopback:

- docker/osp.yaml passes `osp check-config`, with the environment the compose file gives the replicas;
- docker/opa/policy.rego compiles and decides as its header says, in OPA's own Rego engine;
- docker/redis/seed.sh writes osp's Redis schema into a real redis-server;
- docker/haproxy/haproxy.cfg passes `haproxy -c` and balances over exactly the two replicas;
- the Dockerfile has a HEALTHCHECK, runs as a non-root user and builds with the script CI runs;
- the whole session (docker/demo-session.sh) runs through a real osp configured by docker/osp.yaml,
  with its service names mapped to loopback stand-ins: Redis, the OPA-compatible server with the
  demo policy, and the signature-verifying S3 backend in MinIO's place.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest
import yaml

from conftest import _remember
from osptest import processes
from osptest.clients import s3_client

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DOCKER = os.path.join(REPO, "docker")
COMPOSE_FILE = os.path.join(DOCKER, "docker-compose.yml")
OSP_YAML = os.path.join(DOCKER, "osp.yaml")
POLICY = os.path.join(DOCKER, "opa", "policy.rego")
SEED = os.path.join(DOCKER, "redis", "seed.sh")
HAPROXY_CFG = os.path.join(DOCKER, "haproxy", "haproxy.cfg")
DOCKERFILE = os.path.join(DOCKER, "Dockerfile")
BUILD_SCRIPT = os.path.join(DOCKER, "build-release.sh")
DEMO_SESSION = os.path.join(DOCKER, "demo-session.sh")

REPLICAS = ("osp-1", "osp-2")
SERVICES = {"minio", "minio-init", "opa", "redis", "redis-init", *REPLICAS, "lb", "client"}
ADMIN_HEALTHZ = "http://127.0.0.1:9090/healthz"


# ------------------------------------------------------------------------------------ helpers

def _compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True,
                                                 timeout=30).returncode == 0:
        return ["docker", "compose"]
    pytest.fail("neither docker-compose nor `docker compose` is installed (integration/setup.sh installs "
                "Debian's docker-compose)")


def _compose(*args: str) -> subprocess.CompletedProcess:
    # A clean environment for interpolation: the demo's defaults, not whatever the caller exported.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")}
    return subprocess.run([*_compose_command(), "-f", COMPOSE_FILE, *args], capture_output=True, text=True,
                          timeout=120, env=env, cwd=REPO, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def compose() -> dict:
    """The compose file as Compose resolves it: anchors merged, ${VAR:-default} filled in, paths absolute."""
    result = _compose("config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def osp_config() -> dict:
    with open(OSP_YAML, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _environment(service: dict) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def _conditions(service: dict) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return {name: "service_started" for name in depends}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in depends.items()}


def _bind_mounts(service: dict) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source"), volume.get("target")
        mounts.append((source, target))
    return mounts


def _healthcheck_test(service: dict) -> list[str]:
    test = (service.get("healthcheck") or {}).get("test")
    return test.split() if isinstance(test, str) else list(test or [])


def _referenced_variables(path: str) -> set[str]:
    with open(path, encoding="utf-8") as handle:
        return set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}", handle.read()))


def _dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), split into build stages."""
    with open(DOCKERFILE, encoding="utf-8") as handle:
        text = re.sub(r"\\\n", " ", handle.read())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


# ------------------------------------------------------------------------------- compose file

def test_compose_config_validates():
    result = _compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_has_the_demo_services_and_two_replicas(compose):
    services = compose["services"]
    assert SERVICES <= set(services)
    built = {name for name, service in services.items() if "build" in service}
    assert built == set(REPLICAS), "exactly the two osp replicas are built from the repository"
    for name in REPLICAS:
        build = services[name]["build"]
        assert os.path.realpath(build["context"]) == REPO
        assert build.get("dockerfile") == "docker/Dockerfile"
        assert (OSP_YAML, "/etc/osp/osp.yaml") in _bind_mounts(services[name])
        assert services[name]["command"] == ["serve", "--config", "/etc/osp/osp.yaml"]
    # Replicas are interchangeable: same image recipe, same config, same environment.
    first, second = (dict(services[name]) for name in REPLICAS)
    assert first == second
    assert services["opa"]["image"].startswith("openpolicyagent/opa:")
    assert "minio" in services["minio"]["image"] and "mc:" in services["minio-init"]["image"]
    assert services["redis"]["image"].startswith("redis:") and services["redis-init"]["image"].startswith("redis:")
    assert services["lb"]["image"].startswith("haproxy:")
    assert services["client"]["image"].startswith("amazon/aws-cli:")


def test_servers_have_healthchecks_and_start_in_order(compose):
    services = compose["services"]
    for name in ("minio", "opa", "redis", *REPLICAS):
        assert _healthcheck_test(services[name]), f"{name} has no healthcheck"
    for name in REPLICAS:
        assert _healthcheck_test(services[name])[1:] == ["curl", "-fsS", "-o", "/dev/null", ADMIN_HEALTHZ]
        assert _conditions(services[name]) == {
            "redis-init": "service_completed_successfully",
            "minio-init": "service_completed_successfully",
            "opa": "service_healthy",
        }
    assert _conditions(services["minio-init"]) == {"minio": "service_healthy"}
    assert _conditions(services["redis-init"]) == {"redis": "service_healthy"}
    assert _conditions(services["lb"]) == {"osp-1": "service_healthy", "osp-2": "service_healthy"}
    assert _conditions(services["client"]) == {"lb": "service_started"}
    for one_shot in ("minio-init", "redis-init", "client"):
        assert services[one_shot].get("restart") == "no"


def test_only_the_load_balancer_is_published_and_on_loopback(compose):
    services = compose["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"lb"}
    (port,) = services["lb"]["ports"]
    if isinstance(port, str):
        host_ip, published_port, target = port.split(":")[0], port.split(":")[1], port.split(":")[2]
    else:
        host_ip, published_port, target = port.get("host_ip"), port.get("published"), port.get("target")
    assert host_ip == "127.0.0.1"
    assert str(published_port) == "6190" and str(target).split("/")[0] == "6190"


def test_every_mounted_file_exists_and_scripts_parse(compose):
    mounted = []
    for name, service in compose["services"].items():
        for source, target in _bind_mounts(service):
            assert os.path.isfile(source), f"{name} mounts {source}, which does not exist"
            assert os.path.realpath(source).startswith(DOCKER + os.sep), f"{name} mounts {source} outside docker/"
            mounted.append(os.path.realpath(source))
    for script in (os.path.join(DOCKER, "minio", "init.sh"), SEED, DEMO_SESSION, BUILD_SCRIPT):
        assert os.path.realpath(script) in mounted or script == BUILD_SCRIPT
        with open(script, encoding="utf-8") as handle:
            shell = "bash" if handle.readline().rstrip().endswith("bash") else "sh"
        result = subprocess.run([shell, "-n", script], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, f"{script}: {result.stderr}"
    for name, service in compose["services"].items():
        entrypoint = service.get("entrypoint") or []
        for argument in entrypoint[1:]:
            if argument.startswith("/"):
                assert argument in {target for _, target in _bind_mounts(service)}, \
                    f"{name} runs {argument}, which it does not mount"


def test_demo_keys_agree_between_services(compose):
    """The client signs with the keys redis-init issued; osp signs with the MinIO user minio-init made."""
    env = {name: _environment(service) for name, service in compose["services"].items()}
    for key in ("ALICE_ACCESS_KEY", "ALICE_SECRET_KEY", "BOB_ACCESS_KEY", "BOB_SECRET_KEY"):
        assert env["client"][key] == env["redis-init"][key] != ""
    for key in ("OSP_BACKEND_ACCESS_KEY", "OSP_BACKEND_SECRET_KEY"):
        assert env["minio-init"][key] == env["redis-init"][key] != ""
    for key in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"):
        assert env["minio-init"][key] == env["minio"][key]
    redis_password = env["redis"]["REDISCLI_AUTH"]
    assert redis_password and env["redis-init"]["REDISCLI_AUTH"] == redis_password
    assert "--requirepass" in compose["services"]["redis"]["command"]
    assert compose["services"]["redis"]["command"][compose["services"]["redis"]["command"].index("--requirepass") + 1] \
        == redis_password
    for name in REPLICAS:
        assert env[name]["REDIS_PASSWORD"] == redis_password
    assert env["client"]["OSP_ENDPOINT"] == "http://lb:6190"


# ---------------------------------------------------------------------------------- osp.yaml

def test_osp_yaml_points_at_the_compose_services(compose, osp_config):
    services = compose["services"]
    assert osp_config["server"]["http_port"] == 6190
    assert osp_config["admin"] == {"bind": "0.0.0.0", "port": 9090}
    assert {route["host"] for route in osp_config["buckets"].values()} == {"minio"}
    assert set(osp_config["buckets"]) == {"demo", "alice-scratch"}
    assert osp_config["redis"]["host"] == "redis" and osp_config["redis"]["port"] == 6379
    assert osp_config["secrets"]["backend"] == "redis" and osp_config["credentials"]["backend"] == "redis"
    assert osp_config["authorization"]["backend"] == "opa"
    assert osp_config["authorization"]["opa"]["url"] == "http://opa:8181/v1/data/osp/allow"
    assert "0.0.0.0:8181" in services["opa"]["command"]
    assert services["opa"]["command"][-1] in {target for _, target in _bind_mounts(services["opa"])}
    assert "keystore" not in osp_config, "client keys live in Redis, shared by both replicas"
    # Every ${VAR} the config reads is given to both replicas.
    for name in REPLICAS:
        assert _referenced_variables(OSP_YAML) <= set(_environment(services[name]))


def test_osp_yaml_passes_check_config(compose):
    binary = processes.osp_binary()
    if not os.access(binary, os.X_OK):
        pytest.skip(f"osp binary not found at {binary}")
    replica_env = _environment(compose["services"]["osp-1"])
    base = {k: v for k, v in os.environ.items() if k not in _referenced_variables(OSP_YAML)}
    result = subprocess.run([binary, "check-config", OSP_YAML], capture_output=True, text=True, timeout=30,
                            env={**base, **replica_env}, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert "config OK: 2 bucket route(s), 0 client key(s)" in result.stdout
    # ...and the variable really is needed: without the replica's environment the file is refused.
    result = subprocess.run([binary, "check-config", OSP_YAML], capture_output=True, text=True, timeout=30,
                            env=base, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "REDIS_PASSWORD" in result.stderr


# ----------------------------------------------------------------------------------- the policy

@pytest.fixture(scope="module")
def policy_engine():
    opa_bindings = pytest.importorskip("opa_bindings", reason="the Rego engine (opa-golib-python-bindings) "
                                                              "is not installed")
    engine = opa_bindings.OpaEngine()
    with open(POLICY, encoding="utf-8") as handle:
        engine.add_policy(POLICY, handle.read())  # a compile error raises here
    yield engine
    engine.close()


ALICE = ("alice", ["team", "readers"])  # as docker/redis/seed.sh issues them
BOB = ("bob", ["readers"])
SHARED_SCOPE = {"allow": True, "ttl": 60, "scope": {"prefix": "shared/"}}


def _decide(engine, who, action, bucket, key="", listed=None):
    principal, groups = who
    document = {"account": principal, "principal": principal, "groups": groups, "action": action,
                "bucket": bucket, "object": key, "conditions": {} if listed is None else {"prefix": [listed]},
                "request": {"method": "GET", "path": f"/{bucket}/{key}", "query": "", "headers": {}}}
    return engine.eval_document("osp.allow", document)


@pytest.mark.parametrize("who, action, bucket, key, listed, expected", [
    # alice: read, write, list under demo/team/ ...
    (ALICE, "s3:PutObject", "demo", "team/hello.txt", None, True),
    (ALICE, "s3:GetObject", "demo", "team/hello.txt", None, True),
    (ALICE, "s3:ListBucket", "demo", "", "team/", True),
    (ALICE, "s3:AbortMultipartUpload", "demo", "team/big.bin", None, True),
    # ... except demo/team/secret/, whatever the grant says
    (ALICE, "s3:PutObject", "demo", "team/secret/plan.txt", None, False),
    (ALICE, "s3:GetObject", "demo", "team/secret/plan.txt", None, False),
    (ALICE, "s3:ListBucket", "demo", "", "team/secret/", False),
    # ... a reader's share of demo/shared/, answered with a scope
    (ALICE, "s3:GetObject", "demo", "shared/welcome.txt", None, SHARED_SCOPE),
    # ... and the whole of alice-scratch, creating it included
    (ALICE, "s3:CreateBucket", "alice-scratch", "", None, True),
    (ALICE, "s3:PutObject", "alice-scratch", "hello.txt", None, True),
    (ALICE, "s3:ListBucket", "alice-scratch", "", "", True),
    (ALICE, "s3:CreateBucket", "other-bucket", "", None, False),
    (ALICE, "s3:PutObject", "demo", "elsewhere.txt", None, False),
    (ALICE, "s3:ListBucket", "demo", "", "", False),
    # bob reads and lists demo/shared/, nothing else
    (BOB, "s3:GetObject", "demo", "shared/welcome.txt", None, SHARED_SCOPE),
    (BOB, "s3:ListBucket", "demo", "", "shared/", True),
    (BOB, "s3:PutObject", "demo", "shared/notes.txt", None, False),
    (BOB, "s3:DeleteObject", "demo", "shared/welcome.txt", None, False),
    (BOB, "s3:GetObject", "demo", "team/hello.txt", None, False),
    (BOB, "s3:GetObject", "alice-scratch", "hello.txt", None, False),
    # anyone else: default deny
    (("mallory", []), "s3:GetObject", "demo", "shared/welcome.txt", None, False),
    (("mallory", ["team"]), "s3:GetObject", "demo", "team/hello.txt", None, False),
    (ALICE, "s3:ListAllMyBuckets", "", "", None, False),
])
def test_policy_decides_as_documented(policy_engine, who, action, bucket, key, listed, expected):
    assert _decide(policy_engine, who, action, bucket, key, listed) == expected


# --------------------------------------------------------------------------- the Redis seed

class _Redis:
    """A throwaway loopback redis-server with a password, as the compose `redis` service runs it."""

    def __init__(self, workdir: str, password: str):
        server, self.cli_path = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or self.cli_path is None:
            pytest.skip("redis-server / redis-cli not installed")
        self.port, self.password = processes.free_port(), password
        self.process = _remember(subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--requirepass", password, "--save", "",
             "--appendonly", "no", "--dir", workdir, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while self.cli("PING") != "PONG":
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not answer PING within 10 s")
            time.sleep(0.05)

    def cli(self, *args: str) -> str:
        result = subprocess.run([self.cli_path, "-h", "127.0.0.1", "-p", str(self.port), *args], capture_output=True,
                                text=True, timeout=10, env={**os.environ, "REDISCLI_AUTH": self.password})
        return result.stdout.strip()

    def hash(self, key: str) -> dict[str, str]:
        fields = self.cli("HGETALL", key).splitlines()
        return dict(zip(fields[::2], fields[1::2]))

    def stop(self) -> None:
        processes.stop(self.process)


def _seed(redis: _Redis, compose: dict) -> subprocess.CompletedProcess:
    env = {**os.environ, **_environment(compose["services"]["redis-init"]),
           "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(redis.port)}
    return subprocess.run(["sh", SEED], capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL)


def test_redis_seed_writes_the_documented_schema(compose, tmp_path):
    env = _environment(compose["services"]["redis-init"])
    redis = _Redis(str(tmp_path), env["REDISCLI_AUTH"])
    try:
        for _ in range(2):  # idempotent: `docker compose up` may run it again
            result = _seed(redis, compose)
            assert result.returncode == 0, result.stdout + result.stderr
        assert redis.hash(f"osp:key:{env['ALICE_ACCESS_KEY']}") == {
            "secret": env["ALICE_SECRET_KEY"], "principal": ALICE[0], "groups": ",".join(ALICE[1])}
        assert redis.hash(f"osp:key:{env['BOB_ACCESS_KEY']}") == {
            "secret": env["BOB_SECRET_KEY"], "principal": BOB[0], "groups": ",".join(BOB[1])}
        backend = {"access_key": env["OSP_BACKEND_ACCESS_KEY"], "secret_key": env["OSP_BACKEND_SECRET_KEY"]}
        assert redis.hash("osp:creds:demo") == backend
        assert redis.hash("osp:creds:alice-scratch") == backend
        assert sorted(redis.cli("KEYS", "*").splitlines()) == sorted([
            f"osp:key:{env['ALICE_ACCESS_KEY']}", f"osp:key:{env['BOB_ACCESS_KEY']}", "osp:creds:demo",
            "osp:creds:alice-scratch"])
        # Without the password the seed fails loudly instead of pretending.
        result = subprocess.run(["sh", SEED], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                                env={**os.environ, **env, "REDISCLI_AUTH": "wrong", "REDIS_HOST": "127.0.0.1",
                                     "REDIS_PORT": str(redis.port)})
        assert result.returncode != 0
    finally:
        redis.stop()


# ---------------------------------------------------------------------------- the load balancer

def test_load_balancer_round_robins_over_both_replicas(compose, osp_config):
    with open(HAPROXY_CFG, encoding="utf-8") as handle:
        text = handle.read()
    servers = re.findall(r"^\s*server\s+(\S+)\s+(\S+):(\d+)", text, re.MULTILINE)
    assert sorted(servers) == [(name, name, str(osp_config["server"]["http_port"])) for name in REPLICAS]
    assert set(REPLICAS) <= set(compose["services"])
    assert re.search(r"^\s*balance\s+roundrobin\s*$", text, re.MULTILINE)
    assert re.search(r"^\s*option\s+httpchk\s+GET\s+/readyz\s*$", text, re.MULTILINE)
    check_port = re.search(r"^\s*default-server\b.*\bcheck\s+port\s+(\d+)", text, re.MULTILINE)
    assert check_port and int(check_port.group(1)) == osp_config["admin"]["port"]
    assert re.search(r"^\s*bind\s+:6190\s*$", text, re.MULTILINE), "the port the compose file publishes"
    assert re.search(r"^\s*bind\s+:8404\s*$", text, re.MULTILINE) and "monitor-uri /healthz" in text
    haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)
    if haproxy is None:
        pytest.skip("haproxy not installed")
    result = subprocess.run([haproxy, "-c", "-f", HAPROXY_CFG], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------------------- the Dockerfile

def test_dockerfile_builds_with_the_ci_script_and_runs_unprivileged_with_a_healthcheck():
    stages = _dockerfile_stages()
    assert len(stages) == 2, "multi-stage: build, then runtime"
    build, runtime = stages
    assert build[0].startswith("FROM ${SWIFT_IMAGE} AS build")
    assert "COPY docker/build-release.sh ./docker/" in build
    assert "RUN docker/build-release.sh /out/osp" in build
    assert not any("swift build" in line for line in build), "the build command lives in build-release.sh only"
    assert runtime[0] == "FROM debian:bookworm-slim"
    assert "COPY --from=build /out/osp /usr/local/bin/osp" in runtime
    installs = " ".join(line for line in runtime if line.startswith("RUN "))
    for package in ("libcurl4", "libhiredis0.14", "curl"):
        assert re.search(rf"\s{re.escape(package)}\s", installs), package
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the runtime stage runs as a non-root user"
    assert re.search(rf"useradd\b[^&]*\b{re.escape(users[-1])}\b", installs)
    (healthcheck,) = [line for line in runtime if line.startswith("HEALTHCHECK ")]
    assert healthcheck.endswith(f'CMD ["curl", "-fsS", "-o", "/dev/null", "{ADMIN_HEALTHZ}"]')
    # The build context admits every file the build stage copies.
    with open(DOCKERFILE + ".dockerignore", encoding="utf-8") as handle:
        ignore = [line.strip() for line in handle if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*"
    for source in ("Package.swift", "Sources/", "Tests/", "docker/build-release.sh"):
        assert f"!{source}" in ignore


def test_ci_runs_the_same_release_build_script():
    with open(BUILD_SCRIPT, encoding="utf-8") as handle:
        script = handle.read()
    assert "flags=(-c release --product osp --static-swift-stdlib)" in script
    assert 'swift build "${flags[@]}"' in script
    assert os.access(BUILD_SCRIPT, os.X_OK)
    with open(os.path.join(HERE, "run-tests.sh"), encoding="utf-8") as handle:
        run_tests = handle.read()
    assert re.search(r"^\s*(bash\s+)?docker/build-release\.sh\b", run_tests, re.MULTILINE), \
        "integration/run-tests.sh (what CI runs) runs the Dockerfile's build script"


# ------------------------------------------------------------------- the session, on loopback

def _loopback_config(osp_config: dict, osp_port: int, admin_port: int, backend_port: int, redis_port: int,
                     opa_port: int) -> str:
    """docker/osp.yaml with each compose service name swapped for its loopback stand-in; nothing else changes."""
    config = yaml.safe_load(yaml.safe_dump(osp_config))
    config["server"].update(bind="127.0.0.1", http_port=osp_port)
    config["admin"].update(bind="127.0.0.1", port=admin_port)
    for route in config["buckets"].values():
        assert (route["host"], route["port"]) == ("minio", 9000)
        route.update(host="127.0.0.1", port=backend_port)
    assert (config["redis"]["host"], config["redis"]["port"]) == ("redis", 6379)
    config["redis"].update(host="127.0.0.1", port=redis_port)
    opa = config["authorization"]["opa"]
    assert opa["url"].startswith("http://opa:8181/")
    opa["url"] = opa["url"].replace("http://opa:8181/", f"http://127.0.0.1:{opa_port}/")
    return yaml.safe_dump(config, sort_keys=False)


def _start_opa(workdir: str) -> tuple[subprocess.Popen, int]:
    pytest.importorskip("opa_bindings", reason="the Rego engine (opa-golib-python-bindings) is not installed")
    log = open(os.path.join(workdir, "opa.log"), "wb")
    process = _remember(subprocess.Popen(
        [sys.executable, os.path.join(HERE, "policy", "opa_server.py"), "--port", "0", "--policy", POLICY],
        stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL))
    log.close()
    try:
        os.set_blocking(process.stdout.fileno(), False)
        deadline, buffer = time.monotonic() + 30, b""
        while b"\n" not in buffer:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"opa_server.py not READY:\n{processes.tail(os.path.join(workdir, 'opa.log'))}")
            buffer += process.stdout.read() or b""
            time.sleep(0.02)
        return process, int(buffer.split(b"\n", 1)[0].split()[1])
    except BaseException:
        processes.stop(process)
        raise


def test_demo_session_runs_through_osp_as_configured(compose, osp_config, tmp_path):
    """docker/demo-session.sh against osp running docker/osp.yaml: keys and backend credentials from
    Redis as seeded, decisions from the demo policy, the bucket and sample object minio-init makes."""
    binary = processes.osp_binary()
    if not os.access(binary, os.X_OK):
        pytest.skip(f"osp binary not found at {binary}")
    if shutil.which("aws") is None:
        pytest.skip("aws cli not installed")
    workdir = str(tmp_path)
    services = compose["services"]
    seed_env = _environment(services["redis-init"])
    backend_keys = (seed_env["OSP_BACKEND_ACCESS_KEY"], seed_env["OSP_BACKEND_SECRET_KEY"])

    started: list[subprocess.Popen] = []
    redis = _Redis(workdir, seed_env["REDISCLI_AUTH"])
    try:
        started.append(redis.process)
        assert _seed(redis, compose).returncode == 0
        opa, opa_port = _start_opa(workdir)
        started.append(opa)
        backend = processes.start_backend(dict([backend_keys]), workdir, name="minio-stand-in")
        started.append(_remember(backend.process))
        # What minio-init does: the bucket, and the sample object readers fetch.
        admin = s3_client(backend.url, backend_keys)
        admin.create_bucket(Bucket="demo")
        admin.put_object(Bucket="demo", Key="shared/welcome.txt", Body=b"Welcome to the osp demo.\n")

        osp_port, admin_port = processes.free_port(), processes.free_port()
        config = _loopback_config(osp_config, osp_port, admin_port, backend.port, redis.port, opa_port)
        osp = processes.start_osp(config, osp_port, workdir, _environment(services["osp-1"]), "osp-docker")
        started.append(_remember(osp.process))

        session_env = {**os.environ, **_environment(services["client"]), "OSP_ENDPOINT": osp.url,
                       "AWS_EC2_METADATA_DISABLED": "true"}
        result = subprocess.run(["bash", DEMO_SESSION], capture_output=True, text=True, timeout=300,
                                env=session_env, stdin=subprocess.DEVNULL, cwd=workdir)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{output}\nosp log:\n{processes.tail(osp.log_path)}"
        assert "UNEXPECTED" not in output, output
        assert "20 MiB multipart upload read back byte-identical" in output, output
        assert "hello from osp" in output and "Welcome to the osp demo." in output, output
        assert output.count("refused: An error occurred (AccessDenied)") == 3, output
        assert "refused: An error occurred (403) when calling the HeadObject operation" in output, output
        # Nothing the session printed is a secret.
        for key in ("ALICE_SECRET_KEY", "BOB_SECRET_KEY"):
            assert seed_env[key] not in output
        with open(osp.log_path, encoding="utf-8", errors="replace") as handle:
            osp_log = handle.read()
        for secret in (backend_keys[1], seed_env["REDISCLI_AUTH"], seed_env["ALICE_SECRET_KEY"]):
            assert secret not in output and secret not in osp_log

        # What the session left at the "MinIO": stored under the real names, byte for byte.
        assert admin.get_object(Bucket="demo", Key="team/hello.txt")["Body"].read() == b"hello from osp\n"
        assert admin.get_object(Bucket="alice-scratch", Key="hello.txt")["Body"].read() == b"hello from osp\n"
        assert admin.head_object(Bucket="demo", Key="team/big.bin")["ContentLength"] == 20 * 1024 * 1024
        stored = {item["Key"] for item in admin.list_objects_v2(Bucket="demo").get("Contents", [])}
        assert stored == {"shared/welcome.txt", "team/hello.txt", "team/big.bin"}, "refused writes stored nothing"

        # Run again, as `docker compose run --rm client` would: the session is repeatable.
        again = subprocess.run(["bash", DEMO_SESSION], capture_output=True, text=True, timeout=300,
                               env=session_env, stdin=subprocess.DEVNULL, cwd=workdir)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "(alice-scratch exists from an earlier run)" in again.stdout
    finally:
        for process in reversed(started):
            processes.stop(process)

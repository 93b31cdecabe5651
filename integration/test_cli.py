"""The `osp` command line: check-config, version, and the development-mode warning."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from osptest import processes


def _osp(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    binary = processes.osp_binary()
    if not os.access(binary, os.X_OK):
        pytest.skip(f"osp binary not found at {binary}")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "osp.yaml"
    path.write_text(text)
    return str(path)


VALID = """
server: {bind: 127.0.0.1, http_port: 16999}
buckets:
  bucket-one: {host: 127.0.0.1, port: 9000, access_key: AK, secret_key: "${SECRET}"}
keystore:
  - {access_key: CK, secret_key: cs, principal: alice}
"""


def test_version_prints_the_version():
    result = _osp("version")
    assert result.returncode == 0 and result.stdout.startswith("osp ")


def test_check_config_accepts_a_valid_file(tmp_path):
    result = _osp("check-config", _write(tmp_path, VALID), env={"SECRET": "s3cr3t-value"})
    assert result.returncode == 0, result.stderr
    assert "config OK" in result.stdout


@pytest.mark.parametrize("text, path_in_error", [
    (VALID.replace("port: 9000", "port: 70000"), "buckets.bucket-one.port"),
    (VALID.replace("host: 127.0.0.1, port", "hots: 127.0.0.1, port"), "buckets.bucket-one"),
    (VALID.replace("http_port: 16999", "http_port: nine"), "server.http_port"),
])
def test_check_config_names_the_key_path_and_exits_2(tmp_path, text, path_in_error):
    result = _osp("check-config", _write(tmp_path, text), env={"SECRET": "s3cr3t-value"})
    assert result.returncode == 2
    assert path_in_error in result.stderr
    assert "s3cr3t-value" not in result.stderr + result.stdout


def test_check_config_refuses_an_unset_variable(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SECRET"}
    binary = processes.osp_binary()
    if not os.access(binary, os.X_OK):
        pytest.skip("no osp binary")
    result = subprocess.run([binary, "check-config", _write(tmp_path, VALID)], capture_output=True, text=True,
                            env=env, timeout=30)
    assert result.returncode == 2 and "SECRET" in result.stderr


def test_skip_signature_validation_logs_a_loud_warning(tmp_path):
    port = processes.free_port()
    text = VALID.replace("http_port: 16999", f"http_port: {port}, skip_signature_validation: true")
    server = processes.start_osp(text, port, str(tmp_path), {"SECRET": "s3cr3t-value"}, "osp-skip")
    try:
        deadline = time.monotonic() + 10
        log = ""
        while time.monotonic() < deadline and "SIGNATURE VALIDATION IS DISABLED" not in log:
            time.sleep(0.1)
            log = open(server.log_path, encoding="utf-8", errors="replace").read()
        assert "SIGNATURE VALIDATION IS DISABLED" in log
        assert "s3cr3t-value" not in log
    finally:
        processes.stop(server.process)

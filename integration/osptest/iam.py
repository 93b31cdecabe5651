"""The local IBM IAM token endpoint (callouts/iam_server.py): starting it, and its exchange and test hooks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from . import processes

IAM_SERVER = os.path.join(processes.INTEGRATION_DIR, "callouts", "iam_server.py")
APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey"


@dataclass
class IamAnswer:
    """One HTTP answer from the IAM server: status and JSON document."""

    status: int
    document: dict


@dataclass
class IamServer:
    """A running iam_server.py. `url` is its base; osp exchanges keys at `token_url`; a bearer backend
    asks `introspect_url`."""

    process: subprocess.Popen
    port: int
    log_path: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_url(self) -> str:
        return f"{self.url}/identity/token"

    @property
    def introspect_url(self) -> str:
        return f"{self.url}/__iam/introspect"

    def _call(self, method: str, path: str, body: bytes | None = None,
              content_type: str = "application/json") -> IamAnswer:
        request = urllib.request.Request(f"{self.url}{path}", method=method, data=body,
                                         headers={"Content-Type": content_type} if body is not None else {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return IamAnswer(response.status, json.loads(response.read() or b"{}"))
        except urllib.error.HTTPError as error:
            return IamAnswer(error.code, json.loads(error.read() or b"{}"))

    def _hook(self, path: str, document: dict | None = None) -> dict:
        answer = self._call("POST" if document is not None else "GET", path,
                            None if document is None else json.dumps(document).encode())
        assert answer.status == 200, f"{path}: {answer}"
        return answer.document

    def stats(self) -> dict:
        """{"exchanges", "attempts", "in_flight", "max_in_flight", "active_tokens", "introspections", "config"}."""
        return self._hook("/__iam/stats")

    def configure(self, **config) -> dict:
        """Any of expires_in (s), delay_ms, fail_status (None: answer normally); answers the whole config."""
        return self._hook("/__iam/config", config)

    def reset(self, defaults: bool = True) -> None:
        """Zero the counters and forget every token (none is active afterwards); with `defaults`, also
        back to expires_in 3600, no delay, no failure, so one test's configuration never leaks into the next."""
        self._hook("/__iam/reset", {"defaults": defaults})

    def introspect(self, token: str) -> dict:
        """{"active": bool, "api_key_id"?, "iat"?, "exp"?}, as a bearer backend sees it."""
        return self._hook("/__iam/introspect", {"token": token})

    def exchange(self, api_key: str | None, grant_type: str | None = APIKEY_GRANT,
                 content_type: str = "application/x-www-form-urlencoded") -> IamAnswer:
        """One token request as osp makes it (fields left out when None)."""
        fields = [(name, value) for name, value in (("grant_type", grant_type), ("apikey", api_key))
                  if value is not None]
        return self._call("POST", "/identity/token", urllib.parse.urlencode(fields).encode(), content_type)


def start_iam_server(api_keys: list[str], workdir: str, name: str = "iam", timeout: float = 30) -> IamServer:
    """Starts iam_server.py on a free loopback port; stderr goes to `<workdir>/<name>.log`."""
    log_path = os.path.join(workdir, f"{name}.log")
    command = [sys.executable, IAM_SERVER, "--port", "0"]
    for key in api_keys:
        command += ["--api-key", key]
    log = open(log_path, "wb")
    process = subprocess.Popen(command, cwd=processes.INTEGRATION_DIR, stdout=subprocess.PIPE, stderr=log,
                               stdin=subprocess.DEVNULL)
    log.close()
    try:
        port = processes.read_ready_port(process, "iam_server", timeout, log_path)
    except BaseException:
        processes.stop(process)
        raise
    return IamServer(process, port, log_path)

"""Clients used by the tests: boto3, the aws cli, the backend's admin endpoints, botocore raw signing."""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass

import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError

REGION = "us-east-1"
BACKEND_KEYS = ("BACKENDAKID0001", "backend-secret-0001")
CLIENT_KEYS = ("AKIDALICE0001", "alice-secret-0001")
#: The one api key the test IAM endpoint (callouts/iam_server.py) exchanges for bearer tokens.
IAM_API_KEY = "iam-apikey-for-tests-0001"

# aws-cli/botocore warn loudly about these; keep the tests' output readable
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def s3_client(endpoint: str, keys: tuple[str, str], signature_version: str = "s3v4",
              addressing_style: str = "path", verify: bool | str = True, **config):
    s3_options = config.pop("s3", {})  # merged with addressing_style below, not passed twice
    options = {"retries": {"max_attempts": 1, "mode": "standard"}, "connect_timeout": 30, "read_timeout": 60,
               **config}
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=keys[0],
        aws_secret_access_key=keys[1],
        region_name=REGION,
        verify=verify,
        config=Config(signature_version=signature_version,
                      s3={"addressing_style": addressing_style, **s3_options},
                      **options),
    )


def force_trailer_checksums(client) -> None:
    """Make botocore use its TLS-only default, `STREAMING-UNSIGNED-PAYLOAD-TRAILER`, over plain HTTP.

    botocore ≥ 1.36 sends uploads as aws-chunked with a CRC32 trailer, but only over https; this flips
    the resolved checksum location to "trailer" before the request is built, exactly as over TLS.
    """

    def to_trailer(params, **_):
        algorithm = params.get("context", {}).get("checksum", {}).get("request_algorithm")
        if algorithm and algorithm.get("in") == "header":
            algorithm["in"] = "trailer"

    client.meta.events.register("before-call.s3.*", to_trailer)


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def status_of(error: ClientError) -> int:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)


@dataclass
class BackendAdmin:
    """The verifying backend's journal endpoints."""

    url: str

    def _open(self, request):
        import ssl
        context = ssl._create_unverified_context() if self.url.startswith("https") else None
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return json.loads(response.read())

    def journal(self) -> list[dict]:
        return self._open(f"{self.url}/__backend/journal")

    def reset(self) -> None:
        self._open(urllib.request.Request(f"{self.url}/__backend/reset", method="POST", data=b""))

    def requests_for(self, path_fragment: str) -> list[dict]:
        return [entry for entry in self.journal() if path_fragment in entry["path"]]


def botocore_signed(method: str, url: str, keys: tuple[str, str], body: bytes = b"",
                    headers: dict[str, str] | None = None, params: dict[str, str] | None = None):
    """A request signed by botocore's own S3 SigV4 signer (an independent second implementation).

    Returns (target, headers list) ready for `s3client.http.send`. A `host` entry in `headers` is
    signed and sent instead of the URL's host (virtual-host style through a loopback address).
    """
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}), params=params or {})
    S3SigV4Auth(BotoCredentials(*keys), "s3", REGION).add_auth(request)
    prepared = request.prepare()
    from urllib.parse import urlsplit

    parts = urlsplit(prepared.url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    out = [(k, v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()]
    if not any(k.lower() == "host" for k, _ in out):
        out.insert(0, ("Host", parts.netloc))
    if body and not any(k.lower() == "content-length" for k, _ in out):
        out.append(("Content-Length", str(len(body))))
    return target, out


class AwsCli:
    """`aws --endpoint-url URL …` with its own environment and config file; bounded by a timeout."""

    def __init__(self, endpoint: str, keys: tuple[str, str], workdir: str, verify_ssl: bool = True,
                 ca_bundle: str | None = None) -> None:
        """`ca_bundle`: the CA file an https endpoint's certificate is verified with (`--ca-bundle`)."""
        self.endpoint = endpoint
        self.verify_ssl = verify_ssl
        self.ca_bundle = ca_bundle
        config_path = os.path.join(workdir, f"aws-config-{keys[0]}")
        with open(config_path, "w") as handle:
            handle.write(f"[default]\nregion = {REGION}\ns3 =\n    addressing_style = path\n"
                         "    multipart_threshold = 8MB\n    multipart_chunksize = 8MB\n")
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        self.env.update(AWS_ACCESS_KEY_ID=keys[0], AWS_SECRET_ACCESS_KEY=keys[1], AWS_DEFAULT_REGION=REGION,
                        AWS_CONFIG_FILE=config_path, AWS_SHARED_CREDENTIALS_FILE=os.devnull,
                        AWS_EC2_METADATA_DISABLED="true", AWS_MAX_ATTEMPTS="1")

    def __call__(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
        command = ["aws", "--endpoint-url", self.endpoint]
        if not self.verify_ssl:
            command.append("--no-verify-ssl")
        elif self.ca_bundle:
            command += ["--ca-bundle", self.ca_bundle]
        command += list(args)
        result = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} exited {result.returncode}\nstdout:\n{result.stdout}\n"
                                 f"stderr:\n{result.stderr}")
        return result

    def json(self, *args: str, timeout: float = 300):
        return json.loads(self(*args, "--output", "json", timeout=timeout).stdout or "null")


def temp_file(directory: str, size: int, seed: int = 0) -> str:
    """A file of `size` pseudo-random bytes (deterministic per seed)."""
    import random

    rng = random.Random(seed)
    fd, path = tempfile.mkstemp(dir=directory, suffix=".bin")
    with os.fdopen(fd, "wb") as handle:
        remaining = size
        while remaining:
            block = min(remaining, 1 << 20)
            handle.write(rng.randbytes(block))
            remaining -= block
    return path

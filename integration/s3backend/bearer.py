"""Bearer-token authentication, as IBM Cloud Object Storage does it: `Authorization: Bearer <IAM token>`.

The backend cannot judge a token itself (IAM tokens are opaque here), so it asks the IAM endpoint that
issued it — `POST <introspect url> {"token": T}` → `{"active": bool, "api_key_id": ...}` — on every
request, without caching: a gateway that keeps sending a token after it expired is refused at once,
which is what the tests of token refresh rely on.
"""
from __future__ import annotations

import ipaddress
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import S3Refusal

SCHEME = "Bearer "
INTROSPECT_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class TokenStatus:
    """What the IAM endpoint said about a token; `api_key_id` names the key, never the key or token."""

    active: bool
    api_key_id: str | None = None


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


class BearerIntrospection:
    """Asks one loopback IAM introspection endpoint whether a bearer token is current."""

    def __init__(self, url: str, timeout: float = INTROSPECT_TIMEOUT_SECONDS) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not _is_loopback(parts.hostname):
            raise ValueError(f"--bearer-introspect must be an http URL on a loopback address, got {url!r}")
        self.url = url
        self.timeout = timeout

    def status(self, token: str) -> TokenStatus:
        """The token's status; S3 503 when IAM cannot say (a backend cannot authorize without it)."""
        request = urllib.request.Request(self.url, method="POST", data=json.dumps({"token": token}).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise _unavailable(f"the IAM introspection endpoint answered {error.code}") from None
        except (OSError, ValueError):  # refused, timed out, reset, or not JSON
            raise _unavailable("the IAM introspection endpoint is unreachable") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("active"), bool):
            raise _unavailable("the IAM introspection endpoint gave no verdict")
        key_id = answer.get("api_key_id")
        return TokenStatus(answer["active"], key_id if isinstance(key_id, str) else None)


def _unavailable(message: str) -> S3Refusal:
    return S3Refusal(503, "ServiceUnavailable", f"Cannot check the bearer token: {message}.")

#!/usr/bin/env python3
"""Generates Resources/botocore-vectors.json: requests signed by botocore, an implementation of
SigV4 and SigV2 independent of ours, for S3SigningTests to verify.

Deterministic (fixed seed, fixed clock): re-running it gives the same file. Run from anywhere:
    python3 Tests/S3SigningTests/botocore_vectors.py
"""

import datetime
import hashlib
import json
import os
import random
import types
from email.utils import formatdate
from unittest import mock
from urllib.parse import quote

import botocore
import botocore.auth
from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SEED = 20240501
COUNT = 300
# 2026-11-29T22:02:16Z
SIGNING_TIME = datetime.datetime(2026, 11, 29, 22, 2, 16)
SIGNING_EPOCH = int(SIGNING_TIME.replace(tzinfo=datetime.timezone.utc).timestamp())

rng = random.Random(SEED)

AWKWARD = list("+ @()=&:,;$!*'") + ["%", "ü", "日本", "é", "~", "-", "_", ".", "#", "[", "]", "\"", "<", ">", "^", "`", "{", "}", "|", "\\"]
PLAIN = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def random_segment():
    parts = []
    for _ in range(rng.randint(1, 10)):
        parts.append(rng.choice(AWKWARD) if rng.random() < 0.35 else rng.choice(PLAIN))
    return "".join(parts)


def random_key():
    segments = [random_segment() for _ in range(rng.randint(1, 4))]
    key = "/".join(segments)
    if rng.random() < 0.1:
        key = key + "/"            # "folder" marker
    if rng.random() < 0.05:
        key = "a//b/./c/../" + key  # never normalised by S3
    return key


def random_bucket():
    return rng.choice(["examplebucket", "my-bucket", "data.lake", "b1"])


def enc(s):
    return quote(s, safe="-_.~")


def random_query(subresources):
    params = []
    choices = [
        ("prefix", lambda: rng.choice(["a b", "photos/2024/", "ü/日本", "x+y", "a=b&c", ""])),
        ("delimiter", lambda: "/"),
        ("max-keys", lambda: str(rng.randint(1, 1000))),
        ("list-type", lambda: "2"),
        ("continuation-token", lambda: "1/+abc=="),
        ("encoding-type", lambda: "url"),
        ("tag", lambda: rng.choice(["k=v", "a b", "t1"])),
    ]
    if subresources:
        choices += [
            ("uploadId", lambda: "VXBsb2FkIElE+/=="),
            ("partNumber", lambda: str(rng.randint(1, 10000))),
            ("versionId", lambda: "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"),
            ("response-content-type", lambda: "text/plain; charset=utf-8"),
            ("response-content-disposition", lambda: "attachment; filename=\"a b.txt\""),
            ("acl", None),
            ("uploads", None),
            ("tagging", None),
            ("retention", None),
        ]
    for _ in range(rng.randint(0, 4)):
        name, value = rng.choice(choices)
        if value is None:
            params.append(name)           # bare sub-resource, no '='
        else:
            params.append(f"{enc(name)}={enc(value())}")
    if params and rng.random() < 0.2:
        params.append(params[0])          # a repeated parameter
    return "&".join(params)


def random_headers(method):
    headers = []
    if rng.random() < 0.3:
        headers.append(("Range", f"bytes={rng.randint(0, 99)}-{rng.randint(100, 999)}"))
    if rng.random() < 0.3:
        headers.append(("Content-Type", rng.choice(["text/plain", "application/octet-stream", "image/jpeg"])))
    if rng.random() < 0.3:
        headers.append(("x-amz-meta-note", rng.choice(["  two   spaces  ", "a\tb", "plain"])))
    if rng.random() < 0.3:
        headers.append(("X-Amz-Meta-Multi", "first"))
        headers.append(("X-Amz-Meta-Multi", "  second  value "))
    if rng.random() < 0.2:
        headers.append(("x-amz-storage-class", "REDUCED_REDUNDANCY"))
    if rng.random() < 0.2:
        headers.append(("User-Agent", "aws-cli/2.0 Python/3.11"))
    if rng.random() < 0.2:
        headers.append(("If-None-Match", '"abc"'))
    return headers


def make_request(method, host, raw_path, raw_query, headers, body=b""):
    url = f"https://{host}{raw_path}"
    if raw_query:
        url += "?" + raw_query
    request = AWSRequest(method=method, url=url, data=body)
    request.headers["Host"] = host
    for name, value in headers:
        request.headers[name] = value  # HTTPMessage appends: repeated headers stay repeated
    return request


def split_url(url):
    after_host = url.split("://", 1)[1]
    target = after_host[after_host.index("/"):]
    if "?" in target:
        path, query = target.split("?", 1)
    else:
        path, query = target, ""
    return path, query


def header_list(request):
    return [[name, value] for name, value in request.headers.items()]


def credentials():
    access_key = "AKID" + "".join(rng.choice(PLAIN).upper() for _ in range(12))
    secret = "".join(rng.choice(PLAIN + list("+/")) for _ in range(40))
    token = "FwoGZXIvYXdzE" + "".join(rng.choice(PLAIN) for _ in range(30)) if rng.random() < 0.2 else None
    return Credentials(access_key, secret, token)


class FixedDateHmacV1Auth(HmacV1Auth):
    def _get_date(self):
        return formatdate(SIGNING_EPOCH, usegmt=True)


class FixedDateHmacV1QueryAuth(HmacV1QueryAuth):
    def _get_date(self):
        return str(SIGNING_EPOCH + int(self._expires))


def sigv4_header_vector(creds, region):
    method = rng.choice(["GET", "PUT", "HEAD", "DELETE", "POST"])
    bucket = random_bucket()
    virtual = rng.random() < 0.5
    key = random_key()
    host = f"{bucket}.s3.{region}.amazonaws.com" if virtual else f"s3.{region}.amazonaws.com"
    raw_path = "/" + quote(key, safe="/~") if virtual else f"/{bucket}/" + quote(key, safe="/~")
    raw_query = random_query(subresources=False)
    body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64))) if method in ("PUT", "POST") else b""
    headers = random_headers(method)
    if rng.random() < 0.15:
        headers.append(("Date", "placeholder"))  # botocore then signs with the Date header
    request = make_request(method, host, raw_path, raw_query, headers, body)
    request.context["timestamp"] = SIGNING_TIME.strftime("%Y%m%dT%H%M%SZ")
    payload_choice = rng.random()
    if payload_choice < 0.2:
        request.context["client_config"] = types.SimpleNamespace(s3={"payload_signing_enabled": False})
    elif payload_choice < 0.3:
        request.context["checksum"] = {"request_algorithm": {"in": "trailer", "name": "x-amz-checksum-crc32"}}
    auth = S3SigV4Auth(creds, "s3", region)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=SIGNING_TIME):
        auth.add_auth(request)
    path, query = split_url(request.url)
    return {
        "kind": "sigv4-header",
        "method": method,
        "path": path,
        "query": query,
        "headers": header_list(request),
        "secret": creds.secret_key,
        "now": SIGNING_EPOCH + rng.randint(-800, 800),
        "valid": True,
    }


def sigv4_query_vector(creds, region):
    method = rng.choice(["GET", "PUT", "HEAD", "DELETE"])
    bucket = random_bucket()
    key = random_key()
    host = f"{bucket}.s3.{region}.amazonaws.com"
    raw_path = "/" + quote(key, safe="/~")
    raw_query = random_query(subresources=False)
    headers = [h for h in random_headers(method) if h[0].lower() != "content-type"]
    expires = rng.choice([60, 900, 3600, 86400, 604800])
    request = make_request(method, host, raw_path, raw_query, headers)
    request.context["timestamp"] = SIGNING_TIME.strftime("%Y%m%dT%H%M%SZ")
    auth = S3SigV4QueryAuth(creds, "s3", region, expires=expires)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=SIGNING_TIME):
        auth.add_auth(request)
    path, query = split_url(request.url)
    return {
        "kind": "sigv4-query",
        "method": method,
        "path": path,
        "query": query,
        "headers": header_list(request),
        "secret": creds.secret_key,
        "now": SIGNING_EPOCH + rng.randint(-800, expires),
        "valid": True,
    }


def sigv2_vector(creds, query_auth):
    method = rng.choice(["GET", "PUT", "HEAD", "DELETE"])
    bucket = random_bucket()
    virtual = rng.random() < 0.5
    key = random_key()
    host = f"{bucket}.s3.amazonaws.com" if virtual else "s3.amazonaws.com"
    raw_path = "/" + quote(key, safe="/~") if virtual else f"/{bucket}/" + quote(key, safe="/~")
    raw_query = random_query(subresources=True)
    headers = random_headers(method)
    if rng.random() < 0.2:
        headers.append(("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="))
    request = make_request(method, host, raw_path, raw_query, headers)
    resource_path = f"/{bucket}{raw_path}" if virtual else None
    request.auth_path = resource_path
    if query_auth:
        expires = rng.choice([60, 3600, 86400])
        FixedDateHmacV1QueryAuth(creds, expires=expires).add_auth(request)
        del request.headers["Date"]  # Expires in the query stands in for it
        now = SIGNING_EPOCH + rng.randint(0, expires)
    else:
        FixedDateHmacV1Auth(creds).add_auth(request)
        now = SIGNING_EPOCH + rng.randint(-800, 800)
    path, query = split_url(request.url)
    return {
        "kind": "sigv2-query" if query_auth else "sigv2-header",
        "method": method,
        "path": path,
        "query": query,
        "headers": header_list(request),
        "secret": creds.secret_key,
        "now": now,
        "sigV2ResourcePath": resource_path,
        "valid": True,
    }


def main():
    vectors = []
    for index in range(COUNT):
        creds = credentials()
        region = rng.choice(["us-east-1", "eu-central-1", "us-south", "ap-northeast-1"])
        kind = index % 10
        if kind < 5:
            vectors.append(sigv4_header_vector(creds, region))
        elif kind < 8:
            vectors.append(sigv4_query_vector(creds, region))
        elif kind == 8:
            vectors.append(sigv2_vector(creds, query_auth=False))
        else:
            vectors.append(sigv2_vector(creds, query_auth=True))
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Resources", "botocore-vectors.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(
            {"generator": "botocore_vectors.py", "botocore": botocore.__version__, "seed": SEED, "vectors": vectors},
            f, indent=1, ensure_ascii=False, sort_keys=True,
        )
        f.write("\n")
    print(f"wrote {len(vectors)} vectors to {out}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Print presigned osp URLs for the benchmark, one per line, in argument order.

usage: presign.py ENDPOINT get:KEY|put:KEY ...

Presigned SigV4 URLs carry UNSIGNED-PAYLOAD, so curl and wrk can replay them
(until expiry) without computing any signature themselves.
"""
import os
import sys

import boto3
from botocore.config import Config


def main() -> None:
    endpoint, specs = sys.argv[1], sys.argv[2:]
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ.get("BENCH_ACCESS_KEY", "BENCHCLIENT"),
        aws_secret_access_key=os.environ.get("BENCH_SECRET_KEY", "benchsecret"),
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    ops = {"get": "get_object", "put": "put_object"}
    ttl = int(os.environ.get("BENCH_PRESIGN_TTL", "3600"))
    for spec in specs:
        op, key = spec.split(":", 1)
        print(client.generate_presigned_url(
            ops[op], Params={"Bucket": "bench", "Key": key}, ExpiresIn=ttl))


if __name__ == "__main__":
    main()

"""Bucket configurations that have the backend write into other buckets: a logging target,
replication destinations, an inventory's or an analytics export's destination.

The backend writes there with osp's backend key, so a client allowed only to configure its own
bucket could otherwise have it write into any bucket that key reaches. osp reads these bodies
before deciding (strictly: a comment or a second target is MalformedXML): a destination must be a
bucket osp serves under that very name on the same backend (else 403 when osp does not serve it,
501 when it serves it under an alias or elsewhere — the body is forwarded as sent), and the
principal must be allowed `s3:PutObject` there under the prefix written to. Each refusal below is
checked at the backend too: it saw nothing.

Policy under test (dave): may configure logging, replication, inventory and analytics on
open-bucket, and write under `logs/` of open-bucket only.
"""
from __future__ import annotations

import botocore.exceptions
import pytest

from conftest import ALIAS_BUCKET, OPEN_BUCKET, REAL_BUCKET, REGION, _osp_env, _running
from osptest import processes
from osptest.clients import CLIENT_KEYS, s3_client
from osptest.s3checks import refused
from s3client import signer as sig
from s3client.http import send

DAVE_KEYS = ("AKIDDAVE0000001", "dave-secret-0001")


def _config(port: int, backend_port: int) -> str:
    keys = 'access_key: "${BACKEND_ACCESS_KEY}", secret_key: "${BACKEND_SECRET_KEY}"'
    configure = '["s3:PutBucketLogging", "s3:PutReplicationConfiguration", "s3:PutInventoryConfiguration", "s3:PutAnalyticsConfiguration"]'
    return f"""
server: {{bind: 127.0.0.1, http_port: {port}, threads: 2}}
buckets:
  {ALIAS_BUCKET}: {{host: 127.0.0.1, port: {backend_port}, region: {REGION}, backend_bucket: {REAL_BUCKET}, {keys}}}
  {OPEN_BUCKET}: {{host: 127.0.0.1, port: {backend_port}, region: {REGION}, {keys}}}
keystore:
  - {{access_key: {DAVE_KEYS[0]}, secret_key: {DAVE_KEYS[1]}, principal: dave}}
authorization:
  backend: rules
  rules:
    - {{principals: [dave], buckets: [{OPEN_BUCKET}], actions: {configure}, effect: allow}}
    - {{principals: [dave], buckets: [{OPEN_BUCKET}], prefix: "logs/", actions: ["s3:PutObject"], effect: allow}}
    - {{principals: [dave], buckets: [{ALIAS_BUCKET}], actions: ["*"], effect: allow}}
"""


@pytest.fixture(scope="module")
def rules_osp(backend, workdir):
    port = processes.free_port()
    yield from _running(processes.start_osp(_config(port, backend.port), port, workdir, _osp_env(), "osp-destinations"))


@pytest.fixture(scope="module")
def dave(rules_osp):
    return s3_client(rules_osp.url, DAVE_KEYS)


def forwarded(journal, call, subresource: str) -> list[dict]:
    """Runs `call` (the backend may accept or refuse the configuration: its answer is its own) and
    returns what reached the backend for `subresource`."""
    journal.reset()
    try:
        call()
    except botocore.exceptions.ClientError as error:
        # Whatever the backend said, it was the backend that said it, not osp.
        assert error.response["Error"]["Code"] not in ("AccessDenied", "NotImplemented", "MalformedXML"), error
    return [entry for entry in journal.journal() if subresource in entry["query"]]


def logging_to(bucket: str, prefix: str) -> dict:
    return {"LoggingEnabled": {"TargetBucket": bucket, "TargetPrefix": prefix}}


def replication_to(arn: str, prefix: str) -> dict:
    return {
        "Role": "arn:aws:iam::123456789012:role/replication",
        "Rules": [{"ID": "r", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": prefix},
                   "DeleteMarkerReplication": {"Status": "Disabled"},
                   "Destination": {"Bucket": arn}}],
    }


def test_a_logging_target_the_principal_may_write_under_is_forwarded(dave, journal):
    sent = forwarded(journal, lambda: dave.put_bucket_logging(
        Bucket=OPEN_BUCKET, BucketLoggingStatus=logging_to(OPEN_BUCKET, "logs/access/")), "logging")
    assert [entry["method"] for entry in sent] == ["PUT"]
    # Turning logging off names no target at all.
    sent = forwarded(journal, lambda: dave.put_bucket_logging(Bucket=OPEN_BUCKET, BucketLoggingStatus={}), "logging")
    assert [entry["method"] for entry in sent] == ["PUT"]


@pytest.mark.parametrize("target, prefix, code", [
    (OPEN_BUCKET, "data/", "AccessDenied"),      # served, but dave may not write there
    (OPEN_BUCKET, "", "AccessDenied"),           # the whole bucket: more than logs/
    (REAL_BUCKET, "logs/", "AccessDenied"),      # the backend's name of an aliased bucket: not served as such
    ("payroll", "logs/", "AccessDenied"),        # not served by osp at all (the backend key might reach it)
    (ALIAS_BUCKET, "logs/", "NotImplemented"),   # served under an alias: the body would name the wrong bucket
])
def test_a_logging_target_osp_cannot_vouch_for_is_refused_and_nothing_forwarded(dave, journal, target, prefix, code):
    journal.reset()
    assert refused(lambda: dave.put_bucket_logging(
        Bucket=OPEN_BUCKET, BucketLoggingStatus=logging_to(target, prefix))) == code
    assert journal.journal() == []


def test_a_replication_destination_is_authorized_under_the_rules_prefix(dave, journal):
    sent = forwarded(journal, lambda: dave.put_bucket_replication(
        Bucket=OPEN_BUCKET, ReplicationConfiguration=replication_to(f"arn:aws:s3:::{OPEN_BUCKET}", "logs/")),
        "replication")
    assert [entry["method"] for entry in sent] == ["PUT"]
    journal.reset()
    assert refused(lambda: dave.put_bucket_replication(
        Bucket=OPEN_BUCKET, ReplicationConfiguration=replication_to(f"arn:aws:s3:::{OPEN_BUCKET}", "data/"))) == "AccessDenied"
    assert refused(lambda: dave.put_bucket_replication(
        Bucket=OPEN_BUCKET, ReplicationConfiguration=replication_to("arn:minio:replication::x:target", "logs/"))) == "NotImplemented"
    assert journal.journal() == []


def test_inventory_and_analytics_exports_are_authorized_where_they_write(dave, journal):
    def inventory(prefix: str):
        return dave.put_bucket_inventory_configuration(
            Bucket=OPEN_BUCKET, Id="inv",
            InventoryConfiguration={
                "Destination": {"S3BucketDestination": {"Bucket": f"arn:aws:s3:::{OPEN_BUCKET}", "Format": "CSV",
                                                        "Prefix": prefix}},
                "IsEnabled": True, "Id": "inv", "IncludedObjectVersions": "Current",
                "Schedule": {"Frequency": "Daily"},
            })

    def analytics(prefix: str):
        return dave.put_bucket_analytics_configuration(
            Bucket=OPEN_BUCKET, Id="an",
            AnalyticsConfiguration={
                "Id": "an",
                "StorageClassAnalysis": {"DataExport": {"OutputSchemaVersion": "V_1", "Destination": {
                    "S3BucketDestination": {"Format": "CSV", "Bucket": f"arn:aws:s3:::{OPEN_BUCKET}", "Prefix": prefix}}}},
            })

    assert [e["method"] for e in forwarded(journal, lambda: inventory("logs/inventory"), "inventory")] == ["PUT"]
    assert [e["method"] for e in forwarded(journal, lambda: analytics("logs/analytics"), "analytics")] == ["PUT"]
    journal.reset()
    assert refused(lambda: inventory("reports")) == "AccessDenied"
    assert refused(lambda: analytics("reports")) == "AccessDenied"
    assert journal.journal() == []


def test_a_body_another_parser_could_read_differently_is_malformed_and_not_forwarded(rules_osp, journal):
    """A comment between two targets: one XML reader keeps the first, another the last."""
    signer = sig.RequestSigner(sig.Credentials(*DAVE_KEYS, REGION), rules_osp.host)
    body = (b"<BucketLoggingStatus><LoggingEnabled><TargetBucket>" + OPEN_BUCKET.encode()
            + b"</TargetBucket><!-- --><TargetBucket>payroll</TargetBucket><TargetPrefix>logs/</TargetPrefix>"
            + b"</LoggingEnabled></BucketLoggingStatus>")
    journal.reset()
    request = signer.prepare("PUT", f"/{OPEN_BUCKET}", query={"logging": ""}, body=body)
    response = send("127.0.0.1", rules_osp.port, "PUT", request.target, request.headers, request.body)
    assert (response.status, response.error_code) == (400, "MalformedXML"), response
    assert journal.journal() == []


def test_under_allow_all_a_target_osp_does_not_serve_is_still_refused(osp_strict, journal):
    """allow-all lets a client do anything with the buckets osp serves — not have the backend write
    into one it does not serve. (`osp_strict` serves the aliased bucket only.)"""
    alice = s3_client(osp_strict.url, CLIENT_KEYS)
    journal.reset()
    assert refused(lambda: alice.put_bucket_logging(
        Bucket=ALIAS_BUCKET, BucketLoggingStatus=logging_to("payroll", "logs/"))) == "AccessDenied"
    assert refused(lambda: alice.put_bucket_logging(
        Bucket=ALIAS_BUCKET, BucketLoggingStatus=logging_to(ALIAS_BUCKET, "logs/"))) == "NotImplemented"
    assert journal.journal() == []


def test_under_allow_all_a_served_target_is_forwarded(osp_s3, journal):
    sent = forwarded(journal, lambda: osp_s3.put_bucket_logging(
        Bucket=OPEN_BUCKET, BucketLoggingStatus=logging_to(OPEN_BUCKET, "logs/")), "logging")
    assert [entry["method"] for entry in sent] == ["PUT"]


def test_a_chunked_configuration_body_past_its_bound_is_refused_as_it_streams(rules_osp, journal):
    """A body sent with `Transfer-Encoding: chunked` declares no length: osp counts what it holds
    while it collects, and refuses once it passes 1 MiB rather than buffer whatever the client sends."""
    import socket

    from s3client.http import parse_response

    signer = sig.RequestSigner(sig.Credentials(*DAVE_KEYS, REGION), rules_osp.host)
    request = signer.prepare("PUT", f"/{OPEN_BUCKET}", query={"logging": ""}, payload_mode=sig.UNSIGNED)
    head = [f"PUT {request.target} HTTP/1.1"] + [f"{name}: {value}" for name, value in request.headers
                                                  if name.lower() != "content-length"]
    head.append("Transfer-Encoding: chunked")
    piece = b"<BucketLoggingStatus>" + b" " * (64 * 1024 - 21)
    journal.reset()
    with socket.create_connection(("127.0.0.1", rules_osp.port), timeout=10) as connection:
        connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            for _ in range(32):   # 2 MiB offered; osp answers once it holds more than 1 MiB
                connection.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        while b"</Error>" not in received:
            data = connection.recv(65536)
            if not data:
                break
            received += data
    response = parse_response(received)
    assert (response.status, response.error_code) == (400, "MalformedXML"), response
    assert b"too large" in response.body
    assert journal.journal() == []

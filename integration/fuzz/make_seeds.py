#!/usr/bin/env python3
"""Writes the seed corpus of the osp fuzz targets: integration/fuzz/corpus/<target>/.

Seeds are real inputs, made by something other than osp: the worked examples of the AWS S3
documentation, requests botocore signs (SigV4 header and presigned, SigV2 header and query) and
aws-chunked bodies botocore frames or that this script signs following the AWS chunked-upload
specification (checked first against the documentation's own chunk signatures). Every signature uses
the AWS documentation's example key at its instant, 2013-05-24T00:00:00Z, the key and clock the fuzz
targets verify with, so the signed seeds verify and the fuzzer starts from requests that pass.

Run by hand when the seeds should change (needs botocore: integration/requirements.txt); the output
is committed.   python3 integration/fuzz/make_seeds.py
"""

import base64
import calendar
import datetime
import hashlib
import hmac
import io
import os
import struct
import types

import botocore.auth
import botocore.compat
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NOW = datetime.datetime(2013, 5, 24, 0, 0, 0)
NOW_EPOCH = calendar.timegm(NOW.timetuple())
AMZ_DATE = "20130524T000000Z"
SCOPE = "20130524/us-east-1/s3/aws4_request"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

# botocore reads the clock in three places; all of them see the documentation's instant.
botocore.auth.get_current_datetime = lambda remove_tzinfo=True: NOW
botocore.auth.formatdate = lambda *args, **kwargs: "Fri, 24 May 2013 00:00:00 GMT"
botocore.auth.time = types.SimpleNamespace(time=lambda: NOW_EPOCH)


def write(target, name, data):
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def head(method, target, headers):
    """The request head as the fuzz targets read it: the HTTP/1.1 text."""
    lines = [f"{method} {target} HTTP/1.1"] + [f"{name}: {value}" for name, value in headers]
    return "\r\n".join(lines) + "\r\n\r\n"


def signed(auth, method, url, headers=(), body=b"", auth_path=None, context=None):
    """Signs with botocore; returns the head osp would receive. URLs are written the way botocore's S3
    client serializes keys (percent-encoded but for `/` and `~`). SigV2 needs `auth_path`, the
    path-style `/bucket/key`, for virtual-host requests (botocore's S3 client sets it the same way)."""
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body, auth_path=auth_path)
    request.context.update(context or {})
    auth.add_auth(request)
    prepared = request.prepare()
    split = botocore.compat.urlsplit(prepared.url)
    target = split.path + ("?" + split.query if split.query else "")
    return head(method, target, [("Host", split.netloc)] + list(prepared.headers.items()))


# MARK: SigV4, Authorization header

def documented_v4(method, target, headers, signed_headers, signature):
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{SCOPE},SignedHeaders={signed_headers},Signature={signature}"
    )
    return head(method, target, headers + [("Authorization", authorization)])


def sigv4_header():
    credentials = Credentials(ACCESS_KEY, SECRET_KEY)
    host = [("Host", "examplebucket.s3.amazonaws.com")]
    dated = [("x-amz-content-sha256", EMPTY_SHA256), ("x-amz-date", AMZ_DATE)]
    # The four examples of "Signature Calculations for the Authorization Header" and the head of the
    # chunked upload example, with AWS's signatures.
    write("sigv4-header", "aws-get-object-range", documented_v4(
        "GET", "/test.txt", host + [("Range", "bytes=0-9")] + dated,
        "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"))
    write("sigv4-header", "aws-put-object", documented_v4(
        "PUT", "/test$file.text",
        host + [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-date", AMZ_DATE),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", hashlib.sha256(b"Welcome to Amazon S3.").hexdigest())],
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"))
    # SigV4 lets the Date header stand in for x-amz-date: the same request dated by Date alone (its
    # signature then no longer matches, but the date handling before the check runs).
    write("sigv4-header", "aws-put-object-date-only", documented_v4(
        "PUT", "/test$file.text",
        host + [("Date", "Fri, 24 May 2013 00:00:00 GMT"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", hashlib.sha256(b"Welcome to Amazon S3.").hexdigest())],
        "date;host;x-amz-content-sha256;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"))
    # ... and with the numeric zone older clients put in Date (RFC 1123 allows either).
    write("sigv4-header", "aws-put-object-date-numeric-zone", documented_v4(
        "PUT", "/test$file.text",
        host + [("Date", "Fri, 24 May 2013 00:00:00 +0000"), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", hashlib.sha256(b"Welcome to Amazon S3.").hexdigest())],
        "date;host;x-amz-content-sha256;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"))
    write("sigv4-header", "aws-get-lifecycle", documented_v4(
        "GET", "/?lifecycle", host + dated, "host;x-amz-content-sha256;x-amz-date",
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"))
    write("sigv4-header", "aws-list-objects", documented_v4(
        "GET", "/?max-keys=2&prefix=J", host + dated, "host;x-amz-content-sha256;x-amz-date",
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"))
    write("sigv4-header", "aws-chunked-upload-head", documented_v4(
        "PUT", "/examplebucket/chunkObject.txt",
        [("Host", "s3.amazonaws.com"), ("x-amz-date", AMZ_DATE), ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
         ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"), ("Content-Encoding", "aws-chunked"),
         ("x-amz-decoded-content-length", "66560"), ("Content-Length", "66824")],
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"))

    auth = botocore.auth.S3SigV4Auth(credentials, "s3", "us-east-1")
    write("sigv4-header", "botocore-put-awkward-key", signed(
        auth, "PUT", "https://s3.amazonaws.com/bucket/team/a%2Bb%20c%28d%29%40e%3D%C3%A9.txt",
        [("Content-Type", "text/plain"), ("x-amz-meta-owner", "  alice   and  bob "),
         ("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg==")], b""))
    write("sigv4-header", "botocore-list-v2", signed(
        auth, "GET", "https://bucket.s3.amazonaws.com/?list-type=2&prefix=a%2Fb&delimiter=%2F&encoding-type=url"))
    write("sigv4-header", "botocore-copy-object", signed(
        auth, "PUT", "https://s3.amazonaws.com/bucket/copy",
        [("x-amz-copy-source", "source/key%20one?versionId=v1"), ("x-amz-metadata-directive", "REPLACE")]))
    write("sigv4-header", "botocore-unsigned-trailer-head", signed(
        auth, "PUT", "https://s3.amazonaws.com/bucket/upload",
        [("Content-Encoding", "aws-chunked"), ("x-amz-trailer", "x-amz-checksum-crc32"),
         ("x-amz-decoded-content-length", "21")],
        # What botocore's flexible-checksum handler puts in the context for a trailing checksum.
        context={"checksum": {"request_algorithm": {"in": "trailer", "algorithm": "crc32", "name": "x-amz-checksum-crc32"}}}))
    write("sigv4-header", "botocore-session-token", signed(
        botocore.auth.S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, "session/token+value="), "s3", "us-east-1"),
        "DELETE", "https://s3.amazonaws.com/bucket/key?versionId=3%2F4"))


# MARK: SigV4, presigned

def sigv4_query():
    write("sigv4-query", "aws-presigned-get", head(
        "GET",
        "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3"
        "%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
        [("Host", "examplebucket.s3.amazonaws.com")]))
    auth = botocore.auth.S3SigV4QueryAuth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", "us-east-1", expires=3600)
    write("sigv4-query", "botocore-presigned-put-awkward-key", signed(
        auth, "PUT", "https://s3.amazonaws.com/bucket/a%2Bb%20%28c%29%21.txt"))
    write("sigv4-query", "botocore-presigned-response-headers", signed(
        auth, "GET",
        "https://bucket.s3.amazonaws.com/report.csv?response-content-disposition=attachment%3B%20filename%3D%22r.csv%22"))
    token_auth = botocore.auth.S3SigV4QueryAuth(
        Credentials(ACCESS_KEY, SECRET_KEY, "session/token+value="), "s3", "us-east-1", expires=604800)
    write("sigv4-query", "botocore-presigned-session-token", signed(token_auth, "GET", "https://s3.amazonaws.com/bucket/key"))


# MARK: SigV2

def sigv2():
    credentials = Credentials(ACCESS_KEY, SECRET_KEY)
    # The "Signing and Authenticating REST Requests" example (2007: refused for its age, kept for its shape).
    write("sigv2", "aws-get-object", head(
        "GET", "/photos/puppy.jpg",
        [("Host", "johnsmith.s3.amazonaws.com"), ("Date", "Tue, 27 Mar 2007 19:36:42 +0000"),
         ("Authorization", "AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=")]))
    header = botocore.auth.HmacV1Auth(credentials)
    write("sigv2", "botocore-get-virtual-host", signed(
        header, "GET", "https://bucket.s3.amazonaws.com/photos/puppy.jpg", auth_path="/bucket/photos/puppy.jpg"))
    write("sigv2", "botocore-put-amz-headers", signed(
        header, "PUT", "https://s3.amazonaws.com/bucket/a%2Bb%20c.txt",
        [("Content-Type", "text/plain"), ("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
         ("X-Amz-Meta-Owner", "alice"), ("x-amz-acl", "private")]))
    write("sigv2", "botocore-get-acl", signed(header, "GET", "https://s3.amazonaws.com/bucket/key?acl&versionId=v%2F1"))
    query = botocore.auth.HmacV1QueryAuth(credentials, expires=3600)
    write("sigv2", "botocore-query-get", signed(
        query, "GET", "https://bucket.s3.amazonaws.com/key?response-content-type=text%2Fplain", auth_path="/bucket/key"))


# MARK: aws-chunked

def hmac_sha256(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


SIGNING_KEY = hmac_sha256(hmac_sha256(hmac_sha256(hmac_sha256(
    ("AWS4" + SECRET_KEY).encode(), "20130524"), "us-east-1"), "s3"), "aws4_request")
SEED_SIGNATURE = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"


def chunk_signature(previous, data):
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256-PAYLOAD", AMZ_DATE, SCOPE, previous, EMPTY_SHA256, hashlib.sha256(data).hexdigest()])
    return hmac.new(SIGNING_KEY, string_to_sign.encode(), hashlib.sha256).hexdigest()


def trailer_signature(previous, trailer_lines):
    canonical = "".join(f"{line}\n" for line in trailer_lines).encode()
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256-TRAILER", AMZ_DATE, SCOPE, previous, hashlib.sha256(canonical).hexdigest()])
    return hmac.new(SIGNING_KEY, string_to_sign.encode(), hashlib.sha256).hexdigest()


def signed_chunked_body(chunks, trailer_lines=None):
    body, previous = b"", SEED_SIGNATURE
    for chunk in chunks + [b""]:
        previous = chunk_signature(previous, chunk)
        body += f"{len(chunk):x};chunk-signature={previous}\r\n".encode()
        if chunk:
            body += chunk + b"\r\n"
    if trailer_lines is not None:
        for line in trailer_lines:
            body += line.encode() + b"\r\n"
        body += f"x-amz-trailer-signature:{trailer_signature(previous, trailer_lines)}\r\n".encode()
    return body + b"\r\n"


def control(mode, output=0, decoded_length=None, structured=False, small_chunks=False, pieces=0, spelling=0):
    """The 8-byte control block of the aws-chunked target (Sources/osp-fuzz/AWSChunkedFuzzing.swift)."""
    flags = output | (0x04 if decoded_length is not None else 0) | (0x08 if small_chunks else 0) | (0x10 if structured else 0)
    return bytes([mode, flags, pieces, spelling]) + struct.pack("<I", decoded_length or 0)


def aws_chunked():
    # The documentation's chunk signatures for its 64 KiB + 1 KiB upload: this script signs as AWS does.
    previous = SEED_SIGNATURE
    for data, expected in [
        (b"a" * 65536, "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"),
        (b"a" * 1024, "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"),
        (b"", "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"),
    ]:
        previous = chunk_signature(previous, data)
        assert previous == expected, "chunk signing does not follow the AWS example"

    chunks = [b"Welcome to ", b"Amazon S3.", b"\r\n0;not a header\r\n"]
    length = sum(map(len, chunks))
    write("aws-chunked", "signed-resigned", control(0, 0, length, pieces=3) + signed_chunked_body(chunks))
    write("aws-chunked", "signed-verify-only", control(0, 1, None, pieces=1) + signed_chunked_body(chunks))
    write("aws-chunked", "signed-decoded", control(0, 2, length, pieces=40) + signed_chunked_body(chunks))
    trailer = ["x-amz-checksum-crc32:rS6Tkw=="]
    write("aws-chunked", "signed-trailer-resigned", control(1, 0, length, pieces=7) + signed_chunked_body(chunks, trailer))
    write("aws-chunked", "signed-trailer-decoded", control(1, 2, length) + signed_chunked_body(chunks, trailer))

    # What botocore sends by default (STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer).
    data = b"Welcome to Amazon S3."
    for name, chunk_size, output in [("botocore-unsigned-trailer", None, 0), ("botocore-unsigned-trailer-8", 8, 2)]:
        wrapper = AwsChunkedWrapper(io.BytesIO(data), checksum_cls=Crc32Checksum,
                                    checksum_name="x-amz-checksum-crc32", chunk_size=chunk_size)
        write("aws-chunked", name, control(2, output, len(data), pieces=5) + wrapper.read())
    write("aws-chunked", "unsigned-payload", control(3, 0, len(data)) + data)

    # Structured: chunk lengths and data; the target signs them itself.
    structured = bytes([5]) + b"hello" + bytes([0]) + bytes([3]) + b"abc" + bytes([70]) + bytes(range(70))
    write("aws-chunked", "structured-signed", control(0, 0, 0, structured=True) + structured)
    write("aws-chunked", "structured-signed-trailer", control(1, 0, 0, structured=True, spelling=0x06) + structured)
    write("aws-chunked", "structured-unsigned-trailer", control(2, 2, 0, structured=True, pieces=9) + structured)
    write("aws-chunked", "structured-small-chunks", control(0, 2, 0, structured=True, small_chunks=True) + structured)


# MARK: DeleteObjects, RestoreObject, config, router

def delete_objects():
    write("delete-objects", "aws-example", """<?xml version="1.0" encoding="UTF-8"?>
<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Quiet>true</Quiet>
  <Object>
    <Key>sample1.txt</Key>
  </Object>
  <Object>
    <Key>sample2.txt</Key>
    <VersionId>OYcLXagmS.WaD..oyH4KRguB95_YhLs7</VersionId>
  </Object>
</Delete>
""")
    write("delete-objects", "entities", "<Delete><Object><Key>team/&lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; "
          "&#233;&#x65E5;</Key><VersionId>v&#49;</VersionId></Object><Object><Key>a+b c</Key></Object></Delete>")


def restore_object():
    """RestoreObject bodies: plain restores (forwarded), a SELECT restore (refused 501), one hidden
    in a comment (refused 400), and the empty body (forwarded)."""
    write("restore-object", "plain-glacier", "<RestoreRequest><Days>2</Days><GlacierJobParameters><Tier>Standard"
          "</Tier></GlacierJobParameters></RestoreRequest>")
    write("restore-object", "declared-namespaced", """<?xml version="1.0" encoding="UTF-8"?>
<RestoreRequest xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Days>7</Days>
  <Tier>Bulk</Tier>
  <Description>nightly &amp; weekly</Description>
</RestoreRequest>
""")
    write("restore-object", "select-restore", "<RestoreRequest><Type>SELECT</Type><Tier>Expedited</Tier>"
          "<SelectParameters><InputSerialization><CSV/></InputSerialization><ExpressionType>SQL</ExpressionType>"
          "<Expression>select * from object</Expression><OutputSerialization><CSV/></OutputSerialization>"
          "</SelectParameters><OutputLocation><S3><BucketName>other</BucketName><Prefix>out/</Prefix></S3>"
          "</OutputLocation></RestoreRequest>")
    write("restore-object", "commented-select", "<RestoreRequest><Days>1</Days><!-- <Type>SELECT</Type> -->"
          "</RestoreRequest>")
    write("restore-object", "empty", "")


def bucket_destinations():
    """Bucket configurations naming destination buckets, as botocore writes them: the first byte picks
    the kind (0 logging, 1 replication, 2 inventory, 3 analytics). A logging target with a grantee's
    attributes, logging turned off (an empty-element tag), replication rules with each form of
    prefix, an inventory and an analytics export; and a second target behind a comment (refused)."""
    ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
    write("bucket-destinations", "logging", "\x00<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          f"<BucketLoggingStatus {ns}><LoggingEnabled><TargetBucket>logs</TargetBucket><TargetGrants><Grant>"
          '<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>'
          "http://acs.amazonaws.com/groups/s3/LogDelivery</URI></Grantee><Permission>WRITE</Permission></Grant>"
          "</TargetGrants><TargetPrefix>access/</TargetPrefix></LoggingEnabled></BucketLoggingStatus>")
    write("bucket-destinations", "logging-off", f"\x00<BucketLoggingStatus {ns} />")
    write("bucket-destinations", "replication", f"""\x01<ReplicationConfiguration {ns}>
  <Role>arn:aws:iam::123456789012:role/replication</Role>
  <Rule><ID>a</ID><Priority>1</Priority><Status>Enabled</Status><Filter><Prefix>team/</Prefix></Filter>
    <DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>
    <Destination><Bucket>arn:aws:s3:::replica</Bucket><StorageClass>STANDARD</StorageClass></Destination></Rule>
  <Rule><ID>b</ID><Priority>2</Priority><Status>Enabled</Status>
    <Filter><And><Prefix>in/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></And></Filter>
    <Destination><Bucket>arn:aws:s3:::replica</Bucket></Destination></Rule>
  <Rule><Status>Enabled</Status><Prefix>old/</Prefix><Destination><Bucket>arn:aws:s3:::archive</Bucket></Destination></Rule>
</ReplicationConfiguration>
""")
    write("bucket-destinations", "inventory", f"\x02<InventoryConfiguration {ns}><Destination><S3BucketDestination>"
          "<Bucket>arn:aws:s3:::reports</Bucket><Format>CSV</Format><Prefix>inventory</Prefix></S3BucketDestination>"
          "</Destination><IsEnabled>true</IsEnabled><Id>daily</Id><IncludedObjectVersions>Current</IncludedObjectVersions>"
          "<Schedule><Frequency>Daily</Frequency></Schedule></InventoryConfiguration>")
    write("bucket-destinations", "analytics", f"\x03<AnalyticsConfiguration {ns}><Id>a</Id><StorageClassAnalysis>"
          "<DataExport><OutputSchemaVersion>V_1</OutputSchemaVersion><Destination><S3BucketDestination><Format>CSV"
          "</Format><Bucket>arn:aws:s3:::reports</Bucket><Prefix>analytics/</Prefix></S3BucketDestination>"
          "</Destination></DataExport></StorageClassAnalysis></AnalyticsConfiguration>")
    write("bucket-destinations", "commented-second-target", "\x00<BucketLoggingStatus><LoggingEnabled>"
          "<TargetBucket>logs</TargetBucket><!-- --><TargetBucket>payroll</TargetBucket></LoggingEnabled>"
          "</BucketLoggingStatus>")


def post_form():
    """Browser form uploads: a boundary line, then the multipart body a page submits."""
    def form(boundary, fields, file=("photo.jpg", b"\xff\xd8 file bytes \r\n-- not a boundary\r\n"), after=()):
        body = b""
        for name, value in fields:
            body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()
        if file is not None:
            body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file[0]}\"\r\n"
                     "Content-Type: image/jpeg\r\n\r\n").encode() + file[1] + b"\r\n"
        for name, value in after:
            body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()
        return boundary.encode() + b"\n" + body + f"--{boundary}--\r\n".encode()

    # The AWS documentation's SigV4 POST example (sigv4-post-example): its policy and signature.
    policy = ("eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9")
    aws_fields = [
        ("key", "user/user1/${filename}"), ("acl", "public-read"),
        ("success_action_redirect", "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"),
        ("Content-Type", "image/jpeg"), ("x-amz-meta-uuid", "14365123651274"), ("x-amz-server-side-encryption", "AES256"),
        ("X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Date", "20151229T000000Z"), ("x-amz-meta-tag", ""),
        ("Policy", policy), ("X-Amz-Signature", "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"),
    ]
    write("post-form", "aws-sigv4-example", form("----WebKitFormBoundary7MA4YWxkTrZu0gW", aws_fields))
    v2_policy = base64.b64encode(b'{"expiration": "2013-05-24T00:15:00Z", "conditions": [{"bucket": "photos"}, '
                                 b'["starts-with", "$key", "u/"], ["content-length-range", 0, 1048576]]}').decode()
    v2_signature = base64.b64encode(hmac.new(SECRET_KEY.encode(), v2_policy.encode(), hashlib.sha1).digest()).decode()
    v2_fields = [("key", "u/a b.txt"), ("AWSAccessKeyId", ACCESS_KEY), ("policy", v2_policy), ("signature", v2_signature)]
    write("post-form", "sigv2", form("a5f8e2c0b3d94f0e9c6a1b2c3d4e5f60", v2_fields))
    write("post-form", "fields-after-file", form("b", [("key", "k")], after=[("key", "elsewhere")]))
    write("post-form", "empty-file-quoted-names", form("x", [("x-ignore-note", "a;b=\"c\""), ("key", "${filename}")],
                                                      file=("C:\\dir\\name.txt", b"")))
    write("post-form", "no-file", form("b", [("key", "k"), ("policy", "e30=")], file=None))


def config():
    write("config", "readme", """server:
  bind: 127.0.0.1
  http_port: 6190
  threads: 2
  virtual_host_domains: [s3.local]
  skip_signature_validation: false
  max_clock_skew_seconds: 900
admin: {bind: 127.0.0.1, port: 6191}
upstream:
  verify: true
  connect_timeout_seconds: 5
  read_timeout_seconds: 300
  max_idle_connections_per_host: 64
buckets:
  proxy-bucket01:
    host: 127.0.0.1
    port: 9000
    tls: false
    region: us-east-1
    addressing_style: path
    backend_bucket: real-bucket
    access_key: backend
    secret_key: "${OSP_BACKEND_SECRET}"
  cos-bucket:
    host: s3.eu-de.cloud-object-storage.appdomain.cloud
    tls: true
    region: eu-de
    api_key: "$${literal}"
  "*":
    host: 127.0.0.1
    port: ${OSP_PORT}
    access_key: backend
    secret_key: "${OSP_BACKEND_SECRET}"
keystore:
  - {access_key: AKIAIOSFODNN7EXAMPLE, secret_key: "${OSP_CLIENT_SECRET}", principal: alice, groups: [analysts]}
authorization:
  backend: rules
  rules:
    - {principals: [alice, "group:analysts"], buckets: [proxy-bucket01], prefix: "team/", actions: [read, write, list], effect: allow}
    - {principals: ["*"], buckets: ["*"], prefix: "team/secret/", actions: ["*"], effect: deny}
""")
    write("config", "redis", """buckets:
  data: {host: minio, port: 9000}
secrets: {backend: redis, cache: {ttl_seconds: 300, negative_ttl_seconds: 10}}
credentials: {backend: redis}
authorization: {backend: redis}
redis: {host: 127.0.0.1, port: 6379, password: "${EMPTY}x", db: 0, timeout_ms: 500, key_prefix: "osp:"}
""")


def router():
    write("router", "path-get", head("GET", "/bucket/dir/a%2Bb%20c.txt?versionId=3", [("Host", "127.0.0.1:6190")]))
    write("router", "virtual-host-list", head("GET", "/?list-type=2&prefix=a%2F", [("Host", "bucket.eu.s3.local:6190")]))
    write("router", "copy-part", head(
        "PUT", "/bucket/target?partNumber=2&uploadId=u1",
        [("Host", "s3.local"), ("x-amz-copy-source", "/src%2Dbucket/key%20one?versionId=v%2F1")]))
    write("router", "delete-objects", head("POST", "/bucket?delete", [("Host", "s3.local")]))
    write("router", "list-buckets", head("GET", "/", [("Host", "s3.local")]))
    write("router", "preflight", head("OPTIONS", "/bucket/key", [("Host", "bucket.s3.local"), ("Origin", "https://app")]))


if __name__ == "__main__":
    sigv4_header()
    sigv4_query()
    sigv2()
    aws_chunked()
    delete_objects()
    restore_object()
    bucket_destinations()
    post_form()
    config()
    router()
    for target in sorted(os.listdir(CORPUS)):
        print(f"{target}: {len(os.listdir(os.path.join(CORPUS, target)))} seeds")

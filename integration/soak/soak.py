r"""Data-integrity soak: many objects, every upload mode, concurrent readers, verified at the backend.

    python3 integration/soak/soak.py --osp-url http://127.0.0.1:PORT --backend-url http://127.0.0.1:PORT2 \
        --bucket proxy-bucket01 --backend-bucket real-bucket01 --objects 1000 --max-size 64MiB --seed 1

(`integration/soak/run.sh` starts a backend and osp, runs this, and always stops them.)

Writers upload objects of seeded random sizes through osp, each in one of the upload modes a real
client produces (botocore's own variants, our independent signer's aws-chunked encoders, presigned
URLs, multipart); readers meanwhile GET random finished objects through osp, whole or by range, and
check them. At the end every object is listed and read **straight from the backend** (backend keys,
backend bucket name, osp bypassed) and its size and SHA-256 compared with what the writer sent, so a
gateway cannot pass by reading its own mistake back. Object bytes are a pure function of (seed,
index), generated 1 MiB block by block, so nothing but per-object digests is kept.

Exit status: 0 clean; 1 any object lost or corrupted, any reader mismatch, any request error or an
unfinished verification; 2 bad arguments or an unreachable endpoint.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import math
import os
import queue
import random
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

INTEGRATION_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if INTEGRATION_DIR not in sys.path:
    sys.path.insert(0, INTEGRATION_DIR)

from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402

from osptest.clients import BACKEND_KEYS, CLIENT_KEYS, force_trailer_checksums, s3_client  # noqa: E402
from s3client import signer as sig  # noqa: E402
from osptest.forms import post_form  # noqa: E402
from s3client.http import send_prepared  # noqa: E402

MiB = 1 << 20
#: Object bytes are generated in blocks of this size, each from its own seed, so that any block (and so
#: any byte range) can be regenerated on its own and a block stored in the wrong place cannot match.
BLOCK = MiB
#: S3's smallest part except the last; multipart objects use this or a little more.
MIN_PART = 5 * MiB
HTTP_TIMEOUT = 180

# ------------------------------------------------------------------------------------------ modes


@dataclass(frozen=True)
class UploadMode:
    """One way a client uploads an object, and the `x-amz-content-sha256` kinds it must be seen sending."""

    name: str
    description: str
    #: what the client's upload requests (PUT) carried, as `payload_kind` names them; all must be seen
    #: as a subset of this, so a botocore upgrade that silently changes the mode is noticed.
    expected_kinds: frozenset[str]


def _mode(name: str, description: str, *kinds: str) -> UploadMode:
    return UploadMode(name, description, frozenset(kinds))


HEX_KIND = "sha256-hex"
CHECKSUM_HEADER = "+x-amz-checksum-header"
PRESIGNED_KIND = "presigned-query(UNSIGNED-PAYLOAD)"
FORM_KIND = "post-policy-form(AWS4-HMAC-SHA256)"

MODES: dict[str, UploadMode] = {m.name: m for m in (
    _mode("put-hex", "boto3 put_object, defaults (payload sha256 + CRC32 header over http)",
          HEX_KIND + CHECKSUM_HEADER),
    _mode("put-hex-nochecksum", "boto3 put_object, request_checksum_calculation=when_required",
          HEX_KIND),
    _mode("put-unsigned", "boto3 put_object, s3 payload_signing_enabled=False",
          sig.UNSIGNED + CHECKSUM_HEADER),
    _mode("put-trailer-boto3", "boto3 put_object with its https default forced: aws-chunked + CRC32 trailer",
          sig.UNSIGNED_TRAILER),
    _mode("put-trailer", "s3client: unsigned aws-chunked + CRC32 trailer, Content-Length framed",
          sig.UNSIGNED_TRAILER),
    _mode("put-signed-chunks", "s3client: signed aws-chunked (chunk signatures chained from the seed)",
          sig.SIGNED_CHUNKS),
    _mode("put-signed-chunks-trailer", "s3client: signed aws-chunked + signed CRC32 trailer",
          sig.SIGNED_CHUNKS_TRAILER),
    _mode("presigned-put", "boto3 generate_presigned_url + a plain HTTP PUT",
          PRESIGNED_KIND),
    _mode("post-form", "boto3 generate_presigned_post + the form a browser submits (POST Object)",
          FORM_KIND),
    _mode("multipart", "boto3 create/upload_part/complete, parts as boto3 sends them",
          HEX_KIND + CHECKSUM_HEADER),
    _mode("multipart-chunked", "boto3 create/complete, parts from s3client in rotating aws-chunked modes",
          sig.SIGNED_CHUNKS, sig.UNSIGNED_TRAILER, sig.SIGNED_CHUNKS_TRAILER),
)}

CHUNKED_PART_MODES = (sig.SIGNED_CHUNKS, sig.UNSIGNED_TRAILER, sig.SIGNED_CHUNKS_TRAILER)


def payload_kind(headers) -> str:
    """What an upload request's headers say about its payload (the x-amz-content-sha256 kind)."""
    lowered = {str(k).lower(): (v.decode() if isinstance(v, bytes) else str(v)) for k, v in headers}
    value = lowered.get("x-amz-content-sha256", "")
    kind = HEX_KIND if len(value) == 64 and all(c in "0123456789abcdef" for c in value) else value
    if any(name.startswith("x-amz-checksum-") for name in lowered) and not value.startswith("STREAMING-"):
        kind += CHECKSUM_HEADER
    return kind


# ------------------------------------------------------------------------------------------ plan


@dataclass(frozen=True)
class ObjectPlan:
    """One object to write: its key, size and mode are fixed by the seed before anything runs."""

    index: int
    mode: str
    size: int
    key: str
    #: multipart modes: bytes per part (the last part holds the rest); s3client modes: chunk size
    part_size: int = 0
    chunk_size: int = 0


def parse_size(text: str) -> int:
    units = {"": 1, "B": 1, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "K": 1 << 10, "M": 1 << 20,
             "G": 1 << 30}
    stripped = text.strip().upper()
    number = stripped.rstrip("KMGIB")
    unit = stripped[len(number):]
    if unit not in units or not number.isdigit():
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 512, 8MiB, 64MiB)")
    return int(number) * units[unit]


#: Sizes where framing and buffering bugs live: chunk and part boundaries, S3's 8 KiB chunk minimum.
BOUNDARY_SIZES = (1, 2, 8191, 8192, 8193, 65535, 65536, 65537, MiB - 1, MiB, MiB + 1, MIN_PART - 1, MIN_PART,
                  MIN_PART + 1)


def log_uniform_size(rng: random.Random, max_size: int) -> int:
    """Most objects small, a steady share in the MiB range: uniform in log(size) over [1, max]."""
    return min(max_size, int(math.exp(rng.uniform(0.0, math.log(max_size + 1)))))


def plan_objects(count: int, max_size: int, seed: int, modes: list[str], prefix: str) -> list[ObjectPlan]:
    """`count` objects, modes in rotation; each mode gets one 0 B and one `max_size` object first.

    The rest: 1 in 10 a boundary size (≤ max_size), the others log-uniform. Order is shuffled (seeded)
    so the large objects do not all run at once.
    """
    rng = random.Random(f"plan:{seed}")
    boundaries = [s for s in BOUNDARY_SIZES if s <= max_size]
    plans = []
    for index in range(count):
        mode = modes[index % len(modes)]
        if index < len(modes):
            size = 0
        elif index < 2 * len(modes):
            size = max_size
        elif boundaries and rng.random() < 0.1:
            size = rng.choice(boundaries)
        else:
            size = log_uniform_size(rng, max_size)
        part_size = rng.choice((MIN_PART, MIN_PART + 1, 8 * MiB)) if mode.startswith("multipart") else 0
        chunk_size = rng.choice((8192, 65536, 100_000, MiB))
        plans.append(ObjectPlan(index, mode, size, f"{prefix}{mode}/{index:06d}-{size}", part_size, chunk_size))
    rng.shuffle(plans)
    return plans


# ------------------------------------------------------------------------------------------ bytes


@dataclass(frozen=True)
class ObjectBytes:
    """The bytes of object `index` under `seed`: a pure function, regenerated on demand, never stored."""

    seed: int
    index: int
    size: int

    def block(self, number: int) -> bytes:
        length = min(BLOCK, self.size - number * BLOCK)
        return hashlib.shake_128(f"soak:{self.seed}:{self.index}:{number}".encode()).digest(length)

    def all(self) -> bytes:
        return b"".join(self.block(n) for n in range((self.size + BLOCK - 1) // BLOCK))

    def range(self, start: int, end: int) -> bytes:
        """Bytes [start, end] inclusive (HTTP Range semantics)."""
        first, last = start // BLOCK, end // BLOCK
        joined = b"".join(self.block(n) for n in range(first, last + 1))
        offset = start - first * BLOCK
        return joined[offset : offset + end - start + 1]


# ------------------------------------------------------------------------------------------ ledger


@dataclass
class WrittenObject:
    """An upload osp acknowledged, with the digest of the bytes sent: what the backend must hold."""

    key: str
    mode: str
    size: int
    sha256: str
    index: int


@dataclass
class ModeStats:
    planned: int = 0
    written: int = 0
    write_errors: int = 0
    bytes: int = 0
    seconds: float = 0.0
    ok: int = 0
    lost: int = 0
    corrupted: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


@dataclass
class ReaderStats:
    checks: int = 0
    full: int = 0
    ranged: int = 0
    bytes: int = 0
    mismatches: int = 0
    errors: int = 0
    #: reads that completed while at least one writer was still uploading
    during_writes: int = 0


class Ledger:
    """What has been acknowledged, by whom, and what went wrong; shared by every thread."""

    def __init__(self, modes: list[str]) -> None:
        self._lock = threading.Lock()
        self.objects: dict[str, WrittenObject] = {}
        self._keys: list[str] = []
        self.modes = {name: ModeStats() for name in modes}
        self.reader = ReaderStats()
        self.errors: list[str] = []

    def note_error(self, text: str) -> None:
        with self._lock:
            if len(self.errors) < 50:
                self.errors.append(text[:400])

    def observe_kind(self, mode: str, kind: str) -> None:
        with self._lock:
            kinds = self.modes[mode].kinds
            kinds[kind] = kinds.get(kind, 0) + 1

    def written(self, obj: WrittenObject, seconds: float) -> None:
        with self._lock:
            self.objects[obj.key] = obj
            self._keys.append(obj.key)
            stats = self.modes[obj.mode]
            stats.written += 1
            stats.bytes += obj.size
            stats.seconds += seconds

    def write_failed(self, plan: ObjectPlan, error: str) -> None:
        with self._lock:
            self.modes[plan.mode].write_errors += 1
        self.note_error(f"write {plan.mode} {plan.key} ({plan.size} B): {error}")

    def read_failed(self, obj: WrittenObject, error: str) -> None:
        with self._lock:
            self.reader.errors += 1
        self.note_error(f"read {obj.key}: {error}")

    def progress(self) -> tuple[int, int, int]:
        """(objects finished or failed, bytes written, reader checks) so far."""
        with self._lock:
            finished = sum(s.written + s.write_errors for s in self.modes.values())
            return finished, sum(s.bytes for s in self.modes.values()), self.reader.checks

    def random_written(self, rng: random.Random) -> WrittenObject | None:
        with self._lock:
            return self.objects[rng.choice(self._keys)] if self._keys else None

    def read_done(self, full: bool, size: int, ok: bool, during_writes: bool) -> None:
        with self._lock:
            r = self.reader
            r.checks += 1
            r.full += full
            r.ranged += not full
            r.bytes += size
            r.mismatches += not ok
            r.during_writes += during_writes


# ------------------------------------------------------------------------------------------ writers


class UploadFailed(Exception):
    pass


@dataclass
class Endpoints:
    """Where osp and the backend listen, the one bucket under both names, and the keys for each side."""

    osp_url: str
    backend_url: str
    bucket: str  # as clients name it at osp
    backend_bucket: str  # as the backend names it
    client_keys: tuple[str, str] = CLIENT_KEYS
    backend_keys: tuple[str, str] = BACKEND_KEYS

    @property
    def osp_host(self) -> str:
        return urlsplit(self.osp_url).netloc

    @property
    def osp_address(self) -> tuple[str, int]:
        parts = urlsplit(self.osp_url)
        return parts.hostname or "127.0.0.1", parts.port or 80


def _raise_for(response) -> None:
    if response.status != 200:
        raise UploadFailed(f"HTTP {response.status} {response.error_code or ''}".strip())


class Uploader:
    """Carries out one ObjectPlan in its mode. One per writer thread (boto3 clients are per thread)."""

    def __init__(self, endpoints: Endpoints, ledger: Ledger) -> None:
        self.endpoints = endpoints
        self.ledger = ledger
        self.signer = sig.RequestSigner(sig.Credentials(*endpoints.client_keys), endpoints.osp_host)
        self._clients: dict[str, object] = {}

    def _client(self, mode: str):
        """A boto3 client configured for `mode`, recording the payload kind of every PUT it sends."""
        if mode in self._clients:
            return self._clients[mode]
        config: dict = {"read_timeout": HTTP_TIMEOUT, "connect_timeout": 30}
        if mode == "put-hex-nochecksum":
            config["request_checksum_calculation"] = "when_required"
        if mode == "put-unsigned":
            config["s3"] = {"payload_signing_enabled": False}
        client = s3_client(self.endpoints.osp_url, self.endpoints.client_keys, **config)
        if mode == "put-trailer-boto3":
            force_trailer_checksums(client)

        def observe(request, **_):
            if request.method == "PUT":
                self.ledger.observe_kind(mode, payload_kind(request.headers.items()))

        client.meta.events.register("before-send.s3.*", observe)
        self._clients[mode] = client
        return client

    def upload(self, plan: ObjectPlan, body: bytes) -> None:
        bucket, key = self.endpoints.bucket, plan.key
        if plan.mode in ("put-hex", "put-hex-nochecksum", "put-unsigned", "put-trailer-boto3"):
            self._client(plan.mode).put_object(Bucket=bucket, Key=key, Body=body)
        elif plan.mode in ("put-trailer", "put-signed-chunks", "put-signed-chunks-trailer"):
            payload = {"put-trailer": sig.UNSIGNED_TRAILER, "put-signed-chunks": sig.SIGNED_CHUNKS,
                       "put-signed-chunks-trailer": sig.SIGNED_CHUNKS_TRAILER}[plan.mode]
            self._signed_put(plan.mode, key, body, payload, plan.chunk_size)
        elif plan.mode == "presigned-put":
            self._presigned_put(key, body)
        elif plan.mode == "post-form":
            self._post_form(key, body)
        elif plan.mode == "multipart":
            self._multipart(plan, body, chunked=False)
        elif plan.mode == "multipart-chunked":
            self._multipart(plan, body, chunked=True)
        else:
            raise ValueError(f"unknown mode {plan.mode}")

    def _signed_put(self, mode: str, key: str, body: bytes, payload: str, chunk_size: int,
                    query: dict[str, str] | None = None):
        request = self.signer.prepare("PUT", f"/{self.endpoints.bucket}/{sig.encode_key(key)}", query=query,
                                      body=body, payload_mode=payload, chunk_size=chunk_size,
                                      headers={"Content-Type": "application/octet-stream"})
        self.ledger.observe_kind(mode, payload_kind(request.headers))
        response = send_prepared(*self.endpoints.osp_address, request, timeout=HTTP_TIMEOUT)
        _raise_for(response)
        return response

    def _presigned_put(self, key: str, body: bytes) -> None:
        url = self._client("presigned-put").generate_presigned_url(
            "put_object", Params={"Bucket": self.endpoints.bucket, "Key": key}, ExpiresIn=900)
        parts = urlsplit(url)
        target = parts.path + ("?" + parts.query if parts.query else "")
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=HTTP_TIMEOUT)
        try:
            connection.request("PUT", target, body=body, headers={"Content-Length": str(len(body))})
            self.ledger.observe_kind("presigned-put", PRESIGNED_KIND)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise UploadFailed(f"HTTP {response.status}")  # never the URL: it carries a signature
        finally:
            connection.close()

    def _post_form(self, key: str, body: bytes) -> None:
        post = self._client("post-form").generate_presigned_post(self.endpoints.bucket, key, ExpiresIn=900)
        if post["fields"].get("x-amz-algorithm") == "AWS4-HMAC-SHA256":
            self.ledger.observe_kind("post-form", FORM_KIND)
        response = post_form(*self.endpoints.osp_address, urlsplit(post["url"]).path, post["fields"],
                             ("object.bin", body), timeout=HTTP_TIMEOUT)
        if response.status != 204:
            raise UploadFailed(f"HTTP {response.status} {response.error_code or ''}")  # never the fields: signed

    def _multipart(self, plan: ObjectPlan, body: bytes, chunked: bool) -> None:
        client = self._client(plan.mode)
        bucket, key = self.endpoints.bucket, plan.key
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        try:
            parts = []
            starts = range(0, max(len(body), 1), plan.part_size)  # a 0 B object is one empty part
            for number, start in enumerate(starts, 1):
                piece = body[start : start + plan.part_size]
                if chunked:
                    payload = CHUNKED_PART_MODES[(plan.index + number) % len(CHUNKED_PART_MODES)]
                    response = self._signed_put(plan.mode, key, piece, payload, max(plan.chunk_size, 8192),
                                                query={"partNumber": str(number), "uploadId": upload_id})
                    etag = response.headers["etag"]
                else:
                    etag = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                              Body=piece)["ETag"]
                parts.append({"ETag": etag, "PartNumber": number})
            client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                             MultipartUpload={"Parts": parts})
        except BaseException:
            try:
                client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except (BotoCoreError, ClientError):
                pass
            raise


# ------------------------------------------------------------------------------------------ run


@dataclass
class SoakConfig:
    """One run's shape (soak.py's options); with the seed it fixes every object's key, size, mode and bytes."""

    objects: int = 1000
    max_size: int = 64 * MiB
    seed: int = 1
    writers: int = 4
    readers: int = 2
    max_seconds: float = 1200.0
    verify_seconds: float = 900.0
    verify_threads: int = 3
    modes: list[str] = field(default_factory=lambda: list(MODES))
    prefix: str = "soak/"
    #: fraction of reader checks that are ranged GETs (the rest read the whole object)
    range_fraction: float = 0.3


@dataclass
class SoakReport:
    """What a run found: per-mode and reader counts, and `clean`, which is what exit status 0 means."""

    config: dict
    planned: int
    written: int
    write_errors: int
    lost: int
    corrupted: int
    ok: int
    extra: int
    unverified: int
    bytes_written: int
    write_seconds: float
    verify_seconds: float
    modes: dict[str, dict]
    reader: dict
    errors: list[str]
    stopped_by_time: bool

    @property
    def clean(self) -> bool:
        return (self.lost == 0 and self.corrupted == 0 and self.write_errors == 0 and self.unverified == 0
                and self.reader["mismatches"] == 0 and self.reader["errors"] == 0)

    def table(self) -> str:
        def mbps(size: int, seconds: float) -> str:
            return f"{size / MiB / seconds:.1f}" if seconds > 0 else "-"

        header = ["mode", "planned", "written", "errors", "ok", "lost", "corrupt", "MiB", "MiB/s/upload", "payload kinds seen"]
        rows = [header]
        for name, stats in self.modes.items():
            kinds = ", ".join(f"{k}×{n}" for k, n in sorted(stats["kinds"].items()))
            rows.append([name, stats["planned"], stats["written"], stats["write_errors"], stats["ok"], stats["lost"],
                         stats["corrupted"], f"{stats['bytes'] / MiB:.1f}", mbps(stats["bytes"], stats["seconds"]),
                         kinds])
        rows.append(["total", self.planned, self.written, self.write_errors, self.ok, self.lost, self.corrupted,
                     f"{self.bytes_written / MiB:.1f}", "", ""])
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(header) - 1)]
        lines = ["  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
                 + "  " + str(row[-1]) for row in rows]
        r = self.reader
        lines += [
            "",
            f"write phase {self.write_seconds:.1f} s, {mbps(self.bytes_written, self.write_seconds)} MiB/s aggregate"
            f" through osp{' (stopped by --max-seconds)' if self.stopped_by_time else ''}",
            f"readers (through osp): {r['checks']} checks ({r['full']} whole, {r['ranged']} ranged), "
            f"{r['bytes'] / MiB:.1f} MiB, {r['mismatches']} mismatches, {r['errors']} errors, "
            f"{r['during_writes']} while writers wrote",
            f"backend verification (direct, osp bypassed): {self.ok} ok, {self.lost} lost, {self.corrupted} corrupted,"
            f" {self.extra} extra, {self.unverified} unverified in {self.verify_seconds:.1f} s",
            "RESULT: " + ("PASS" if self.clean else "FAIL"),
        ]
        return "\n".join(lines)


def _error_text(error: BaseException) -> str:
    if isinstance(error, ClientError):
        meta = error.response.get("ResponseMetadata", {})
        return f"HTTP {meta.get('HTTPStatusCode')} {error.response.get('Error', {}).get('Code', '')}"
    return f"{type(error).__name__}: {error}"


def _writer(endpoints: Endpoints, config: SoakConfig, ledger: Ledger, work: queue.Queue, deadline: float,
            stopped: threading.Event) -> None:
    uploader = Uploader(endpoints, ledger)
    while True:
        if time.monotonic() > deadline:
            stopped.set()
            return
        try:
            plan = work.get_nowait()
        except queue.Empty:
            return
        body = ObjectBytes(config.seed, plan.index, plan.size).all()
        digest = hashlib.sha256(body).hexdigest()
        started = time.monotonic()
        try:
            uploader.upload(plan, body)
        except Exception as error:  # noqa: BLE001 - every failure is counted and reported
            ledger.write_failed(plan, _error_text(error))
            continue
        finally:
            del body
        ledger.written(WrittenObject(plan.key, plan.mode, plan.size, digest, plan.index), time.monotonic() - started)


def _reader(endpoints: Endpoints, config: SoakConfig, ledger: Ledger, number: int, writing: threading.Event,
            done: threading.Event) -> None:
    rng = random.Random(f"reader:{config.seed}:{number}")
    client = s3_client(endpoints.osp_url, endpoints.client_keys, read_timeout=HTTP_TIMEOUT)
    while not done.is_set():
        obj = ledger.random_written(rng)
        if obj is None:
            done.wait(0.05)
            continue
        ranged = obj.size > 0 and rng.random() < config.range_fraction
        try:
            if ranged:
                start = rng.randrange(obj.size)
                end = min(obj.size - 1, start + rng.randrange(1, 3 * MiB))
                got = client.get_object(Bucket=endpoints.bucket, Key=obj.key, Range=f"bytes={start}-{end}")
                data = got["Body"].read()
                ok = data == ObjectBytes(config.seed, obj.index, obj.size).range(start, end)
                size = len(data)
            else:
                got = client.get_object(Bucket=endpoints.bucket, Key=obj.key)
                digest, size = hashlib.sha256(), 0
                for piece in got["Body"].iter_chunks(MiB):
                    digest.update(piece)
                    size += len(piece)
                ok = size == obj.size and digest.hexdigest() == obj.sha256
        except Exception as error:  # noqa: BLE001 - every failure is counted and reported
            ledger.read_failed(obj, _error_text(error))
            continue
        if not ok:
            ledger.note_error(f"read mismatch {obj.key} ({'range' if ranged else 'whole'})")
        ledger.read_done(not ranged, size, ok, writing.is_set())


def verify_at_backend(endpoints: Endpoints, config: SoakConfig, ledger: Ledger) -> tuple[int, int, int, int, int]:
    """List and read every object straight from the backend. Returns (ok, lost, corrupted, extra, unverified)."""
    backend = s3_client(endpoints.backend_url, endpoints.backend_keys, read_timeout=HTTP_TIMEOUT)
    listed: dict[str, int] = {}
    for page in backend.get_paginator("list_objects_v2").paginate(Bucket=endpoints.backend_bucket,
                                                                   Prefix=config.prefix):
        for item in page.get("Contents", []):
            listed[item["Key"]] = item["Size"]
    extra = len(set(listed) - set(ledger.objects))
    work: queue.Queue = queue.Queue()
    for obj in ledger.objects.values():
        work.put(obj)
    deadline = time.monotonic() + config.verify_seconds
    counts = {"ok": 0, "lost": 0, "corrupted": 0}
    lock = threading.Lock()

    def verdict(obj: WrittenObject, outcome: str, why: str = "") -> None:
        with lock:
            counts[outcome] += 1
            setattr(ledger.modes[obj.mode], outcome, getattr(ledger.modes[obj.mode], outcome) + 1)
        if why:
            ledger.note_error(f"{outcome} {obj.key}: {why}")

    def check() -> None:
        client = s3_client(endpoints.backend_url, endpoints.backend_keys, read_timeout=HTTP_TIMEOUT)
        while time.monotonic() < deadline:
            try:
                obj = work.get_nowait()
            except queue.Empty:
                return
            if obj.key not in listed:
                verdict(obj, "lost", "not listed at the backend")
                continue
            try:
                got = client.get_object(Bucket=endpoints.backend_bucket, Key=obj.key)
            except ClientError as error:
                verdict(obj, "lost", _error_text(error))
                continue
            digest, size = hashlib.sha256(), 0
            for piece in got["Body"].iter_chunks(MiB):
                digest.update(piece)
                size += len(piece)
            encoding = got.get("ContentEncoding", "") or ""
            if size != obj.size or digest.hexdigest() != obj.sha256 or listed[obj.key] != obj.size:
                verdict(obj, "corrupted", f"backend has {size} B (listed {listed[obj.key]}), sent {obj.size} B; "
                                          f"sha256 {'differs' if digest.hexdigest() != obj.sha256 else 'same'}")
            elif "aws-chunked" in encoding.lower():
                verdict(obj, "corrupted", f"stored with Content-Encoding {encoding!r}")
            else:
                verdict(obj, "ok")

    threads = [threading.Thread(target=check, name=f"verify-{n}", daemon=True) for n in range(config.verify_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(1.0, deadline - time.monotonic() + HTTP_TIMEOUT))
    unverified = len(ledger.objects) - sum(counts.values())
    return counts["ok"], counts["lost"], counts["corrupted"], extra, unverified


def run_soak(endpoints: Endpoints, config: SoakConfig, log=None) -> SoakReport:
    """Write, read concurrently, then verify at the backend. `log(text)` gets progress lines."""
    log = log or (lambda text: None)
    unknown = [m for m in config.modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown modes {unknown}; known: {list(MODES)}")
    plans = plan_objects(config.objects, config.max_size, config.seed, config.modes, config.prefix)
    ledger = Ledger(config.modes)
    work: queue.Queue = queue.Queue()
    for plan in plans:
        ledger.modes[plan.mode].planned += 1
        work.put(plan)
    total = sum(p.size for p in plans)
    log(f"plan: {len(plans)} objects, {total / MiB:.1f} MiB, sizes 0..{config.max_size} B, "
        f"modes {len(config.modes)}, seed {config.seed}, {config.writers} writers, {config.readers} readers")

    writing, reading_done, stopped = threading.Event(), threading.Event(), threading.Event()
    writing.set()
    started = time.monotonic()
    deadline = started + config.max_seconds
    writers = [threading.Thread(target=_writer, args=(endpoints, config, ledger, work, deadline, stopped),
                                name=f"writer-{n}", daemon=True) for n in range(config.writers)]
    readers = [threading.Thread(target=_reader, args=(endpoints, config, ledger, n, writing, reading_done),
                                name=f"reader-{n}", daemon=True) for n in range(config.readers)]
    for thread in writers + readers:
        thread.start()
    next_progress = started + 15
    while any(t.is_alive() for t in writers):
        for thread in writers:
            thread.join(1.0)
        if time.monotonic() >= next_progress:
            next_progress += 15
            done, written_bytes, checks = ledger.progress()
            log(f"  {time.monotonic() - started:6.0f} s: {done}/{len(plans)} objects, "
                f"{written_bytes / MiB:.0f} MiB written, {checks} reader checks")
    writing.clear()
    write_seconds = time.monotonic() - started
    reading_done.set()
    for thread in readers:
        thread.join(HTTP_TIMEOUT + 10)
    log(f"writes done in {write_seconds:.1f} s; verifying {len(ledger.objects)} objects at the backend")

    verify_started = time.monotonic()
    ok, lost, corrupted, extra, unverified = verify_at_backend(endpoints, config, ledger)
    written = sum(s.written for s in ledger.modes.values())
    return SoakReport(
        config=asdict(config),
        planned=len(plans),
        written=written,
        write_errors=sum(s.write_errors for s in ledger.modes.values()),
        lost=lost, corrupted=corrupted, ok=ok, extra=extra, unverified=unverified,
        bytes_written=sum(s.bytes for s in ledger.modes.values()),
        write_seconds=write_seconds,
        verify_seconds=time.monotonic() - verify_started,
        modes={name: asdict(stats) for name, stats in ledger.modes.items()},
        reader=asdict(ledger.reader),
        errors=list(ledger.errors),
        stopped_by_time=stopped.is_set(),
    )


def ensure_bucket(endpoints: Endpoints) -> None:
    """Create the backend bucket if it is missing (directly at the backend)."""
    backend = s3_client(endpoints.backend_url, endpoints.backend_keys)
    try:
        backend.head_bucket(Bucket=endpoints.backend_bucket)
    except ClientError:
        backend.create_bucket(Bucket=endpoints.backend_bucket)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soak.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--osp-url", required=True)
    parser.add_argument("--backend-url", required=True)
    parser.add_argument("--bucket", required=True, help="the bucket as clients name it at osp")
    parser.add_argument("--backend-bucket", required=True, help="the same bucket as the backend names it")
    parser.add_argument("--create-bucket", action="store_true", help="create --backend-bucket at the backend")
    parser.add_argument("--objects", type=int, default=1000, help="objects to write (default 1000)")
    parser.add_argument("--max-size", type=parse_size, default=64 * MiB,
                        help="largest object, e.g. 8MiB (default 64MiB); sizes are log-uniform from 1 B")
    parser.add_argument("--seed", type=int, default=1, help="fixes sizes, modes, order and bytes (default 1)")
    parser.add_argument("--writers", type=int, default=4, help="uploading threads (default 4)")
    parser.add_argument("--readers", type=int, default=2,
                        help="threads reading finished objects through osp while writers write (default 2)")
    parser.add_argument("--max-seconds", type=float, default=1200.0, help="stop starting uploads after this")
    parser.add_argument("--verify-seconds", type=float, default=900.0,
                        help="bound on the backend verification; objects left unread count as unverified")
    parser.add_argument("--verify-threads", type=int, default=3, help="threads reading from the backend")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    parser.add_argument("--prefix", help="key prefix (default soak-<seed>-<time>/)")
    parser.add_argument("--json", metavar="FILE", help="write the full report as JSON here")
    args = parser.parse_args(argv)
    if args.objects < 1 or args.writers < 1 or args.readers < 0 or args.max_size < 1:
        parser.error("--objects, --writers and --max-size must be positive, --readers not negative")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in MODES for m in modes):
        parser.error(f"--modes: choose from {','.join(MODES)}")
    if args.objects < 2 * len(modes):
        parser.error(f"--objects must be at least {2 * len(modes)} (a 0 B and a max-size object per mode)")
    # keys come from the test constants unless overridden by the environment (never from arguments)
    client_keys = (os.environ.get("SOAK_CLIENT_ACCESS_KEY", CLIENT_KEYS[0]),
                   os.environ.get("SOAK_CLIENT_SECRET_KEY", CLIENT_KEYS[1]))
    backend_keys = (os.environ.get("SOAK_BACKEND_ACCESS_KEY", BACKEND_KEYS[0]),
                    os.environ.get("SOAK_BACKEND_SECRET_KEY", BACKEND_KEYS[1]))
    endpoints = Endpoints(args.osp_url, args.backend_url, args.bucket, args.backend_bucket, client_keys, backend_keys)
    config = SoakConfig(objects=args.objects, max_size=args.max_size, seed=args.seed, writers=args.writers,
                        readers=args.readers, max_seconds=args.max_seconds, verify_seconds=args.verify_seconds,
                        verify_threads=args.verify_threads, modes=modes,
                        prefix=args.prefix or f"soak-{args.seed}-{int(time.time())}/")

    def log(text: str) -> None:
        print(f"[soak {time.strftime('%H:%M:%S')}] {text}", flush=True)

    try:
        if args.create_bucket:
            ensure_bucket(endpoints)
    except (BotoCoreError, ClientError) as error:
        log(f"cannot reach the backend: {_error_text(error)}")
        return 2
    report = run_soak(endpoints, config, log)
    print(report.table(), flush=True)
    if report.errors:
        print("\nfirst errors:\n  " + "\n  ".join(report.errors[:20]), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(asdict(report), handle, indent=2)
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())

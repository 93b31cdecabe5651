"""Clients beyond aws cli and boto3, each with its own S3 stack: pyarrow (the AWS SDK for C++, as used
by pyarrow and pandas), Polars (Rust's object_store), DuckDB (httpfs, its own C++ signer), the MinIO
Python SDK (its own signer, not botocore's), rclone (Go) and s3cmd (its own SigV4 and SigV2 signers).
Through osp against the verifying backend: what they write is stored byte for byte (read back
directly from the backend), and what they read, list and delete is what the backend holds."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess

import pytest

from conftest import ALIAS_BUCKET, REAL_BUCKET
from osptest.clients import CLIENT_KEYS, REGION
from osptest.s3checks import exists_at_backend, stored_bytes

pytestmark = pytest.mark.usefixtures("osp")


# ---------------------------------------------------------------- pyarrow (AWS SDK for C++)

pa = pytest.importorskip("pyarrow")
pafs = pytest.importorskip("pyarrow.fs")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def arrow_fs(osp):
    return pafs.S3FileSystem(
        access_key=CLIENT_KEYS[0],
        secret_key=CLIENT_KEYS[1],
        endpoint_override=f"127.0.0.1:{osp.port}",
        scheme="http",
        region=REGION,
        connect_timeout=10,
        request_timeout=60,
    )


def test_pyarrow_writes_and_reads_a_parquet_file(arrow_fs, backend_s3, prefix):
    table = pa.table({"id": list(range(1000)), "name": [f"row-{i}" for i in range(1000)]})
    path = f"{ALIAS_BUCKET}/{prefix}data/part-0.parquet"
    pq.write_table(table, path, filesystem=arrow_fs)

    stored = stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}data/part-0.parquet")
    assert stored[:4] == b"PAR1" and stored[-4:] == b"PAR1"  # a whole parquet file, no chunk framing
    assert pq.read_table(path, filesystem=arrow_fs).equals(table)
    # pyarrow's dataset reader lists the directory, then reads ranges of each file.
    assert pq.ParquetDataset(f"{ALIAS_BUCKET}/{prefix}data", filesystem=arrow_fs).read().num_rows == 1000


def test_pyarrow_streams_bytes_lists_and_deletes(arrow_fs, backend_s3, prefix):
    payload = os.urandom(3 * 1024 * 1024 + 17)
    path = f"{ALIAS_BUCKET}/{prefix}blob.bin"
    with arrow_fs.open_output_stream(path) as out:
        out.write(payload)
    assert stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}blob.bin") == payload

    with arrow_fs.open_input_file(path) as handle:
        handle.seek(1_000_000)
        assert handle.read(4096) == payload[1_000_000:1_004_096]  # a ranged GET
    info = arrow_fs.get_file_info(path)
    assert info.size == len(payload)
    listed = arrow_fs.get_file_info(pafs.FileSelector(f"{ALIAS_BUCKET}/{prefix}", recursive=True))
    assert [entry.path for entry in listed] == [path]

    arrow_fs.delete_file(path)
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}blob.bin")


def test_pyarrow_with_a_wrong_secret_is_refused_and_stores_nothing(osp, backend_s3, prefix):
    wrong = pafs.S3FileSystem(
        access_key=CLIENT_KEYS[0], secret_key="not-the-secret", endpoint_override=f"127.0.0.1:{osp.port}",
        scheme="http", region=REGION, connect_timeout=10, request_timeout=30,
    )
    with pytest.raises(OSError, match="SIGNATURE_DOES_NOT_MATCH|SignatureDoesNotMatch"):
        with wrong.open_output_stream(f"{ALIAS_BUCKET}/{prefix}refused.bin") as out:
            out.write(b"never stored")
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}refused.bin")


# ---------------------------------------------------------------- Polars (Rust object_store)


@pytest.fixture(scope="module")
def polars_options(osp):
    pytest.importorskip("polars")
    return {
        "aws_access_key_id": CLIENT_KEYS[0],
        "aws_secret_access_key": CLIENT_KEYS[1],
        "aws_endpoint_url": osp.url,
        "aws_region": REGION,
        "aws_allow_http": "true",
        "aws_virtual_hosted_style_request": "false",
    }


def test_polars_writes_scans_and_reads_parquet(polars_options, backend_s3, osp_s3, prefix):
    import polars as pl

    frame = pl.DataFrame({"id": range(5000), "team": [("a", "b", "c")[i % 3] for i in range(5000)]})
    url = f"s3://{ALIAS_BUCKET}/{prefix}frame.parquet"
    frame.write_parquet(url, storage_options=polars_options)
    stored = stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}frame.parquet")
    assert stored[:4] == b"PAR1" and stored[-4:] == b"PAR1"

    assert pl.read_parquet(url, storage_options=polars_options).equals(frame)
    # A lazy scan with a filter reads the footer, then ranges of the file.
    counted = (pl.scan_parquet(url, storage_options=polars_options)
               .filter(pl.col("team") == "b").select(pl.len()).collect().item())
    assert counted == sum(1 for i in range(5000) if i % 3 == 1)

    # A CSV another client wrote, read by Polars.
    osp_s3.put_object(Bucket=ALIAS_BUCKET, Key=f"{prefix}plain.csv", Body=b"x,y\n1,2\n3,4\n")
    csv = pl.read_csv(f"s3://{ALIAS_BUCKET}/{prefix}plain.csv", storage_options=polars_options)
    assert csv.to_dicts() == [{"x": 1, "y": 2}, {"x": 3, "y": 4}]


def test_polars_with_a_wrong_secret_is_refused(polars_options, backend_s3, prefix):
    import polars as pl

    wrong = {**polars_options, "aws_secret_access_key": "not-the-secret"}
    with pytest.raises(Exception, match="SignatureDoesNotMatch|403"):
        pl.DataFrame({"a": [1]}).write_parquet(f"s3://{ALIAS_BUCKET}/{prefix}refused.parquet", storage_options=wrong)
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}refused.parquet")


# ---------------------------------------------------------------- DuckDB (httpfs: its own C++ SigV4 signer)


def _duckdb(osp, secret: str):
    """A DuckDB connection whose S3 secret points at osp. The httpfs extension comes from PyPI
    (`duckdb-extension-httpfs`, pinned to DuckDB's version): DuckDB's own download site is not
    reachable here, so autoinstall stays off and the extension is loaded from its file."""
    import glob

    import duckdb
    import duckdb_extension_httpfs

    (extension,) = glob.glob(os.path.join(os.path.dirname(duckdb_extension_httpfs.__file__),
                                          "extensions", f"v{duckdb.__version__}", "httpfs.duckdb_extension"))
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute(f"LOAD '{extension}'")
    con.execute(
        f"CREATE SECRET osp (TYPE s3, KEY_ID '{CLIENT_KEYS[0]}', SECRET '{secret}', REGION '{REGION}', "
        f"ENDPOINT '127.0.0.1:{osp.port}', URL_STYLE 'path', USE_SSL false)"
    )
    return con


def test_duckdb_copies_parquet_out_and_queries_it_back(osp, backend_s3, osp_s3, prefix):
    con = _duckdb(osp, CLIENT_KEYS[1])
    try:
        base = f"s3://{ALIAS_BUCKET}/{prefix}"
        # DuckDB writes every S3 file as a multipart upload.
        for part in range(2):
            con.execute(
                f"COPY (SELECT {part} * 100000 + range AS id, 'row-' || range AS name FROM range(100000)) "
                f"TO '{base}t/part-{part}.parquet' (FORMAT parquet)"
            )
        stored = stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}t/part-0.parquet")
        assert stored[:4] == b"PAR1" and stored[-4:] == b"PAR1"  # a whole parquet file, no chunk framing

        # A glob is a ListObjectsV2; each file is read by HEAD and ranged GETs.
        count, total = con.execute(f"SELECT count(*), sum(id) FROM read_parquet('{base}t/*.parquet')").fetchone()
        assert (count, total) == (200000, sum(range(200000)))
        assert con.execute(f"SELECT name FROM read_parquet('{base}t/part-1.parquet') WHERE id = 100042").fetchone() == ("row-42",)

        # A CSV another client wrote, read by DuckDB.
        osp_s3.put_object(Bucket=ALIAS_BUCKET, Key=f"{prefix}plain.csv", Body=b"x,y\n1,2\n3,4\n")
        assert con.execute(f"SELECT x, y FROM read_csv('{base}plain.csv') ORDER BY x").fetchall() == [(1, 2), (3, 4)]
    finally:
        con.close()


def test_duckdb_with_a_wrong_secret_is_refused_and_stores_nothing(osp, backend_s3, prefix):
    con = _duckdb(osp, "not-the-secret")
    try:
        with pytest.raises(Exception, match="403|SignatureDoesNotMatch"):
            con.execute(f"COPY (SELECT 1 AS a) TO 's3://{ALIAS_BUCKET}/{prefix}refused.parquet' (FORMAT parquet)")
    finally:
        con.close()
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}refused.parquet")


# ---------------------------------------------------------------- MinIO Python SDK (its own signer)


@pytest.fixture(scope="module")
def minio_client(osp):
    minio = pytest.importorskip("minio")
    return minio.Minio(f"127.0.0.1:{osp.port}", access_key=CLIENT_KEYS[0], secret_key=CLIENT_KEYS[1],
                       secure=False, region=REGION)


def test_minio_sdk_puts_multipart_gets_lists_copies_and_removes(minio_client, backend_s3, prefix):
    import io

    from minio.commonconfig import CopySource
    from minio.deleteobjects import DeleteObject

    small = b"minio small object"
    minio_client.put_object(ALIAS_BUCKET, f"{prefix}small.txt", io.BytesIO(small), len(small))
    # Unknown length: the SDK uploads 5 MiB parts (multipart), each signed with its SHA-256.
    large = os.urandom(11 * 1024 * 1024 + 3)
    minio_client.put_object(ALIAS_BUCKET, f"{prefix}large.bin", io.BytesIO(large), -1, part_size=5 * 1024 * 1024)
    assert stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}small.txt") == small
    assert stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}large.bin") == large

    response = minio_client.get_object(ALIAS_BUCKET, f"{prefix}large.bin", offset=4_000_000, length=1000)
    try:
        assert response.read() == large[4_000_000:4_001_000]
    finally:
        response.close()
        response.release_conn()
    minio_client.copy_object(ALIAS_BUCKET, f"{prefix}copy.txt", CopySource(ALIAS_BUCKET, f"{prefix}small.txt"))
    assert stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}copy.txt") == small
    names = sorted(o.object_name for o in minio_client.list_objects(ALIAS_BUCKET, prefix=prefix, recursive=True))
    assert names == [f"{prefix}copy.txt", f"{prefix}large.bin", f"{prefix}small.txt"]

    errors = list(minio_client.remove_objects(ALIAS_BUCKET, [DeleteObject(name) for name in names]))
    assert errors == []
    for name in names:
        assert not exists_at_backend(backend_s3, REAL_BUCKET, name)


def test_minio_sdk_with_a_wrong_secret_is_refused(osp, backend_s3, prefix):
    import io

    minio = pytest.importorskip("minio")
    wrong = minio.Minio(f"127.0.0.1:{osp.port}", access_key=CLIENT_KEYS[0], secret_key="not-the-secret",
                        secure=False, region=REGION)
    with pytest.raises(minio.error.S3Error) as refused:
        wrong.put_object(ALIAS_BUCKET, f"{prefix}refused.txt", io.BytesIO(b"x"), 1)
    assert refused.value.code == "SignatureDoesNotMatch"
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}refused.txt")


# ---------------------------------------------------------------- rclone (Go)

RCLONE = shutil.which("rclone")


@pytest.fixture(scope="module")
def rclone(osp, workdir):
    if RCLONE is None:
        pytest.skip("rclone is not installed (integration/setup.sh installs it)")
    # Nothing from the AWS environment (the TLS tests' AWS_CA_BUNDLE would stop rclone's SDK).
    env = {
        **{name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "RCLONE_"))},
        "RCLONE_CONFIG": os.path.join(workdir, "rclone-none.conf"),  # configured by the variables below only
        "RCLONE_CONFIG_OSP_TYPE": "s3",
        "RCLONE_CONFIG_OSP_PROVIDER": "Other",
        "RCLONE_CONFIG_OSP_ACCESS_KEY_ID": CLIENT_KEYS[0],
        "RCLONE_CONFIG_OSP_SECRET_ACCESS_KEY": CLIENT_KEYS[1],
        "RCLONE_CONFIG_OSP_ENDPOINT": osp.url,
        "RCLONE_CONFIG_OSP_REGION": REGION,
        "RCLONE_CONFIG_OSP_FORCE_PATH_STYLE": "true",
    }

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [RCLONE, "--retries", "1", "--low-level-retries", "1", "--contimeout", "10s", "--timeout", "60s", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"rclone {' '.join(args)} failed ({result.returncode}): {result.stderr[-2000:]}")
        return result

    return run


def test_rclone_copies_lists_reads_and_deletes(rclone, backend_s3, workdir, prefix):
    source = os.path.join(workdir, "rclone-source")
    os.makedirs(source, exist_ok=True)
    files = {"a.txt": b"hello from rclone\n", "dir/b c+d.bin": os.urandom(200_000), "empty": b""}
    for name, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(source, name)), exist_ok=True)
        with open(os.path.join(source, name), "wb") as handle:
            handle.write(data)

    rclone("copy", source, f"osp:{ALIAS_BUCKET}/{prefix}tree")
    for name, data in files.items():
        assert stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}tree/{name}") == data
    listed = rclone("lsf", "-R", "--files-only", f"osp:{ALIAS_BUCKET}/{prefix}tree").stdout.splitlines()
    assert sorted(listed) == sorted(files)
    assert rclone("cat", f"osp:{ALIAS_BUCKET}/{prefix}tree/a.txt").stdout == files["a.txt"].decode()
    # `check` hashes both sides (MD5 from the listing's ETags) and compares them.
    rclone("check", source, f"osp:{ALIAS_BUCKET}/{prefix}tree")

    rclone("purge", f"osp:{ALIAS_BUCKET}/{prefix}tree")
    for name in files:
        assert not exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}tree/{name}")


def test_rclone_multipart_upload(rclone, backend_s3, workdir, prefix):
    path = os.path.join(workdir, "rclone-large.bin")
    data = os.urandom(12 * 1024 * 1024 + 5)
    with open(path, "wb") as handle:
        handle.write(data)
    rclone("copyto", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", path, f"osp:{ALIAS_BUCKET}/{prefix}large.bin")
    stored = stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}large.bin")
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest()


def test_rclone_with_a_wrong_secret_is_refused(rclone, backend_s3, workdir, prefix):
    path = os.path.join(workdir, "rclone-refused.txt")
    with open(path, "wb") as handle:
        handle.write(b"never stored")
    result = rclone("copyto", "--s3-secret-access-key", "not-the-secret", path,
                    f"osp:{ALIAS_BUCKET}/{prefix}refused.txt", check=False)
    assert result.returncode != 0
    assert "SignatureDoesNotMatch" in result.stderr or "403" in result.stderr
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}refused.txt")


# ---------------------------------------------------------------- s3cmd (its own SigV4 and SigV2 signers)

S3CMD = shutil.which("s3cmd")


@pytest.fixture(scope="module", params=["sigv4", "sigv2"])
def s3cmd(request, osp, workdir):
    if S3CMD is None:
        pytest.skip("s3cmd is not installed (integration/setup.sh installs it)")
    config = os.path.join(workdir, f"s3cmd-{request.param}.cfg")

    def write_config(secret: str) -> None:
        with open(config, "w") as handle:
            handle.write(
                "[default]\n"
                f"access_key = {CLIENT_KEYS[0]}\nsecret_key = {secret}\n"
                f"host_base = 127.0.0.1:{osp.port}\nhost_bucket = 127.0.0.1:{osp.port}\n"
                f"use_https = False\nbucket_location = {REGION}\n"
                f"signature_v2 = {request.param == 'sigv2'}\n"
                "check_ssl_certificate = False\nsocket_timeout = 60\n"
            )

    def run(*args: str, secret: str = CLIENT_KEYS[1], check: bool = True) -> subprocess.CompletedProcess:
        write_config(secret)
        env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
        result = subprocess.run([S3CMD, "-c", config, "--no-progress", *args], env=env,
                                capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"s3cmd {' '.join(args)} failed ({result.returncode}): {result.stderr[-2000:]}")
        return result

    run.signature = request.param
    return run


def test_s3cmd_signs_as_configured(s3cmd, prefix):
    """The two parameterisations really are SigV4 and SigV2 header authentication."""
    debug = s3cmd("--debug", "ls", f"s3://{ALIAS_BUCKET}/{prefix}").stderr
    schemes = set(re.findall(r"[Aa]uthorization['\"]?: ['\"]?(AWS4-HMAC-SHA256|AWS) ", debug))
    assert schemes == ({"AWS"} if s3cmd.signature == "sigv2" else {"AWS4-HMAC-SHA256"})


def test_s3cmd_puts_multipart_gets_lists_and_deletes(s3cmd, backend_s3, workdir, prefix):
    small = os.path.join(workdir, "s3cmd-small.txt")
    with open(small, "wb") as handle:
        handle.write(b"hello from s3cmd")
    large = os.path.join(workdir, "s3cmd-large.bin")
    data = os.urandom(11 * 1024 * 1024 + 7)
    with open(large, "wb") as handle:
        handle.write(data)

    s3cmd("put", small, f"s3://{ALIAS_BUCKET}/{prefix}small.txt")
    s3cmd("put", "--multipart-chunk-size-mb=5", large, f"s3://{ALIAS_BUCKET}/{prefix}large.bin")
    assert stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}small.txt") == b"hello from s3cmd"
    assert stored_bytes(backend_s3, REAL_BUCKET, f"{prefix}large.bin") == data

    fetched = os.path.join(workdir, "s3cmd-fetched.bin")
    s3cmd("get", "--force", f"s3://{ALIAS_BUCKET}/{prefix}large.bin", fetched)
    with open(fetched, "rb") as handle:
        assert handle.read() == data
    listing = s3cmd("ls", f"s3://{ALIAS_BUCKET}/{prefix}").stdout
    assert f"s3://{ALIAS_BUCKET}/{prefix}small.txt" in listing and f"s3://{ALIAS_BUCKET}/{prefix}large.bin" in listing

    s3cmd("del", f"s3://{ALIAS_BUCKET}/{prefix}small.txt", f"s3://{ALIAS_BUCKET}/{prefix}large.bin")
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}small.txt")
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}large.bin")


def test_s3cmd_with_a_wrong_secret_is_refused(s3cmd, backend_s3, workdir, prefix):
    path = os.path.join(workdir, "s3cmd-refused.txt")
    with open(path, "wb") as handle:
        handle.write(b"never stored")
    result = s3cmd("put", path, f"s3://{ALIAS_BUCKET}/{prefix}refused.txt", secret="not-the-secret", check=False)
    assert result.returncode != 0
    assert "SignatureDoesNotMatch" in result.stderr or "403" in result.stderr
    assert not exists_at_backend(backend_s3, REAL_BUCKET, f"{prefix}refused.txt")

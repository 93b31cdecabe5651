"""A small data-integrity soak through osp (the CI-sized run of integration/soak/soak.py).

60 objects of 0 B..8 MiB, every upload mode, 3 writers and 2 readers at once; then every object is
read straight from the backend and its SHA-256 compared with what was sent. The full soak (≥ 1,000
objects up to 64 MiB) is `integration/soak/run.sh`; see docs/soak.md.
"""
from __future__ import annotations

import hashlib

import pytest

from conftest import ALIAS_BUCKET, REAL_BUCKET
from soak.soak import (MODES, Endpoints, Ledger, SoakConfig, WrittenObject, plan_objects, run_soak,
                       verify_at_backend)

pytestmark = pytest.mark.usefixtures("osp")

MiB = 1 << 20
CONFIG = dict(objects=60, max_size=8 * MiB, seed=5, writers=3, readers=2, max_seconds=75, verify_seconds=60)


def test_plan_is_reproducible_and_covers_the_edges():
    first = plan_objects(200, 64 * MiB, 7, list(MODES), "p/")
    assert first == plan_objects(200, 64 * MiB, 7, list(MODES), "p/")
    assert first != plan_objects(200, 64 * MiB, 8, list(MODES), "p/")
    for mode in MODES:
        sizes = [p.size for p in first if p.mode == mode]
        assert 0 in sizes and 64 * MiB in sizes, mode
    sizes = sorted(p.size for p in first)
    assert sum(1 for s in sizes if s < 64 * 1024) > 40, "log-uniform: many small objects"
    # Log-uniform over 1 B..64 MiB puts 6/26 (23 %) of the drawn sizes in [1 MiB, 64 MiB).
    assert sum(1 for s in sizes if MiB <= s < 64 * MiB) > len(sizes) // 6, "log-uniform: many in the MiB range"


def test_soak_every_upload_mode_with_concurrent_readers_loses_and_corrupts_nothing(osp, backend, prefix, capsys):
    endpoints = Endpoints(osp.url, backend.url, ALIAS_BUCKET, REAL_BUCKET)
    report = run_soak(endpoints, SoakConfig(prefix=prefix, **CONFIG), log=print)
    with capsys.disabled():
        print("\n" + report.table())
    assert report.errors == [], report.errors
    assert (report.planned, report.written) == (60, 60), "every planned object was acknowledged"
    assert (report.lost, report.corrupted, report.unverified, report.extra) == (0, 0, 0, 0)
    assert report.ok == 60
    for name, mode in MODES.items():
        stats = report.modes[name]
        assert stats["written"] > 0 and stats["ok"] == stats["written"], name
        seen = set(stats["kinds"])
        assert seen and seen <= mode.expected_kinds, f"{name}: clients sent {seen}, expected {mode.expected_kinds}"
    assert report.reader["checks"] > 0 and report.reader["mismatches"] == 0 and report.reader["errors"] == 0
    assert report.reader["during_writes"] > 0, "readers must have read while writers were writing"
    assert report.reader["ranged"] > 0 and report.reader["full"] > 0
    assert report.clean


def test_backend_verification_counts_lost_and_corrupted_objects(osp, backend, backend_s3, prefix):
    """The checker itself: an object whose backend bytes differ is corrupted, one never stored is lost,
    one stored but never acknowledged is extra (so a PASS above means something)."""
    endpoints = Endpoints(osp.url, backend.url, ALIAS_BUCKET, REAL_BUCKET)
    ledger = Ledger(["put-hex"])
    for name, body, claimed in (("good", b"same bytes", b"same bytes"), ("bad", b"stored bytes", b"sent bytes!!"),
                                ("short", b"12345", b"123456")):
        backend_s3.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}{name}", Body=body)
        ledger.written(WrittenObject(f"{prefix}{name}", "put-hex", len(claimed),
                                     hashlib.sha256(claimed).hexdigest(), 0), 0.1)
    ledger.written(WrittenObject(f"{prefix}missing", "put-hex", 3, hashlib.sha256(b"abc").hexdigest(), 0), 0.1)
    backend_s3.put_object(Bucket=REAL_BUCKET, Key=f"{prefix}unacknowledged", Body=b"x")
    ok, lost, corrupted, extra, unverified = verify_at_backend(endpoints, SoakConfig(prefix=prefix), ledger)
    assert (ok, lost, corrupted, extra, unverified) == (1, 1, 2, 1, 0)
    assert ledger.modes["put-hex"].corrupted == 2 and ledger.modes["put-hex"].lost == 1

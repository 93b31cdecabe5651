#!/usr/bin/env python3
"""Turn the raw measurements of run.sh (a TSV file) into the markdown results table.

usage: report.py RAW_TSV

Rows of RAW_TSV (tab-separated):
  meta  KEY    VALUE
  xfer  OP     SIZE   PATH   REP    MB_PER_S|ERR   DETAIL
  wrk   CONNS  PATH   ROUND  REQ_PER_S|ERR  P50_MS  P99_MS  ERRORS  BACKEND_CONNS_PER_1000_REQ  PROXY_CPU_US_PER_REQ
  pwrk  (as wrk; PATH is a policy backend: allow-all, rules, opa, or control: allow-all again)
  xwrk  CONNS  BACKEND  ROUND  SIDE  BACKEND_REQUESTS|ERR  ALLOW_ALL_REQUESTS  BACKEND_CPU_US  ALLOW_ALL_CPU_US  ERRORS
        (the crossover: two osp processes measured at once, SIDE (P or Q) serving BACKEND — rules,
        opa, or control: allow-all — and the other allow-all)
  rss   NAME   KIB
  allocs osp   REQUESTS  ALLOCATIONS  BYTES   (heap allocations counted by alloc_count.so)

PATH is direct, haproxy, osp, nio-floor (a bare SwiftNIO HTTP/1 proxy, wrk rows only),
sigv4-floor (nio-floor plus SigV4 verification and re-signing with osp's S3Signing, wrk rows
only) or original (object-storage-proxy, the original product). Their rows are absent when
run.sh skipped them: meta original_note says why, floor_note does if the floor's build or start
failed, and sigv4_floor_note if sigv4-floor's build, start or signature checks failed
(BENCH_FLOOR=0 and BENCH_SIGV4_FLOOR=0 leave no note).

Medians are taken over the repetitions; ratios are osp/haproxy, osp/direct and
osp/original of those medians, as a reference with no target nio-floor/haproxy,
osp/nio-floor, sigv4-floor/haproxy, osp/sigv4-floor and (both floors measured) sigv4-floor/nio-floor,
and for the policy section rules/allow-all and
opa/allow-all (with the range of the per-round ratios, each round being one interleaved
allow-all/rules/opa/control set); control/allow-all compares two identical allow-all instances,
the noise floor the policy ratios are read against. The policy targets are judged on the crossover
rows when present: per cell, the backend's rate (and CPU per request) over allow-all's measured at
the same time in the other process; the estimate is the geometric mean of those paired ratios,
with a 95 % bootstrap interval (cells resampled, fixed seed): PASS when the whole interval is at or
above the target, FAIL when it is wholly below, UNRESOLVED otherwise. Sections without rows (e.g.
BENCH_ONLY=policy) are left out. The exit status is always 0.
"""
import math
import random
import statistics
import sys
from collections import defaultdict

PATHS = ("direct", "haproxy", "osp", "nio-floor", "sigv4-floor", "original")
FLOORS = ("nio-floor", "sigv4-floor")   # references: 1 KiB GET rounds only
ABBREV = {"direct": "d", "haproxy": "h", "osp": "o", "nio-floor": "nf", "sigv4-floor": "sf", "original": "orig"}
POLICY_PATHS = ("allow-all", "rules", "opa", "control")
POLICY_TARGET = 0.95   # 1 KiB GET req/s with rules / opa (warm cache) >= 0.95 x allow-all
CROSS_MIN_CELLS = 6    # fewer crossover cells (a quick run has 2) are reported, not judged
GET_PUT_TARGET = 0.9   # large GET/PUT MB/s >= 0.9 x haproxy
SMALL_TARGET = 0.8     # 1 KiB GET req/s >= 0.8 x haproxy
ORIGINAL_TARGET = 3.0  # 1 KiB GET req/s >= 3 x the original product (and p99 <= the original's)
RSS_TARGET_KIB = 64 * 1024


def fmt(x, digits=0):
    return "n/a" if x is None else f"{x:,.{digits}f}"


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def main() -> None:
    meta, rss = {}, {}
    allocs = None                 # (requests, allocations, bytes) of the counted osp
    xfer = defaultdict(list)      # (op, size, path) -> [MB/s]
    xfer_err = defaultdict(list)  # (op, size, path) -> [detail]
    sizes, conns = [], []
    wrk = defaultdict(list)       # (conns, path) -> [(rps, p50, p99, errs)]
    wrk_err = defaultdict(list)
    pconns = []
    pwrk = defaultdict(dict)      # (conns, backend) -> {round: (rps, p50, p99, errs, kconn, cpu_us)}
    pwrk_err = defaultdict(list)
    xwrk = defaultdict(list)      # (conns, backend) -> [(side, rate ratio, cpu ratio, backend cpu, allow-all cpu, errs)]
    xwrk_err = defaultdict(list)
    with open(sys.argv[1]) as f:
        for line in f:
            row = line.rstrip("\n").split("\t")
            kind = row[0]
            if kind == "meta":
                meta[row[1]] = row[2]
            elif kind == "rss":
                rss[row[1]] = int(row[2])
            elif kind == "allocs":
                allocs = (int(row[2]), int(row[3]), int(row[4]))
            elif kind == "xfer":
                op, size, path, _rep, value = row[1:6]
                if size not in sizes:
                    sizes.append(size)
                if value == "ERR":
                    xfer_err[(op, size, path)].append(row[6] if len(row) > 6 else "")
                else:
                    xfer[(op, size, path)].append(float(value))
            elif kind == "pwrk":
                c, path, rnd, rps, p50, p99, errs = row[1:8]
                c = int(c)
                if c not in pconns:
                    pconns.append(c)
                if rps == "ERR":
                    pwrk_err[(c, path)].append(errs)
                else:
                    kconn = float(row[8]) if len(row) > 8 and row[8] else None
                    cpu_us = float(row[9]) if len(row) > 9 and row[9] else None
                    pwrk[(c, path)][rnd] = (float(rps), float(p50), float(p99), errs, kconn, cpu_us)
            elif kind == "xwrk":
                c, name, _rnd, side, mine, base, mine_cpu, base_cpu = row[1:9]
                errs = row[9] if len(row) > 9 else ""
                c = int(c)
                if mine == "ERR":
                    xwrk_err[(c, name)].append(errs)
                else:
                    xwrk[(c, name)].append((side, int(mine) / int(base), float(mine_cpu) / float(base_cpu),
                                            float(mine_cpu), float(base_cpu), errs))
            elif kind == "wrk":
                c, path, _round, rps, p50, p99, errs = row[1:8]
                kconn = float(row[8]) if len(row) > 8 and row[8] else None
                cpu_us = float(row[9]) if len(row) > 9 and row[9] else None
                c = int(c)
                if c not in conns:
                    conns.append(c)
                if rps == "ERR":
                    wrk_err[(c, path)].append(errs)
                else:
                    wrk[(c, path)].append((float(rps), float(p50), float(p99), errs, kconn, cpu_us))

    has_original = any(k[2] == "original" for k in list(xfer) + list(xfer_err)) or \
        any(k[1] == "original" for k in list(wrk) + list(wrk_err))
    has_floor = any(k[1] == "nio-floor" for k in list(wrk) + list(wrk_err))
    has_sigv4_floor = any(k[1] == "sigv4-floor" for k in list(wrk) + list(wrk_err))
    measured = {"nio-floor": has_floor, "sigv4-floor": has_sigv4_floor, "original": has_original}
    paths = [x for x in PATHS if x not in FLOORS and measured.get(x, True)]  # large transfers
    rate_paths = [x for x in PATHS if measured.get(x, True)]
    proxies = [x for x in rate_paths if x != "direct"]
    out = []
    p = out.append
    p(f"## osp benchmark — {meta.get('date', '?')}")
    p("")
    p(f"- machine: {meta.get('machine', '?')}")
    p(f"- osp: `{meta.get('osp_bin', '?')}` ({meta.get('osp_version', '?')}, built {meta.get('osp_built', '?')}; git {meta.get('git', '?')}), "
      f"threads {meta.get('osp_threads', '?')}")
    haproxy = (f"haproxy {meta['haproxy_version']} (mode http, nbthread {meta.get('haproxy_threads', '?')}); "
               if "haproxy_version" in meta else "")
    p(f"- {haproxy}nginx {meta.get('nginx_version', '?')} (worker_processes {meta.get('nginx_workers', '?')}, sendfile)")
    if "original_version" in meta:
        if has_original:
            p(f"- original: object-storage-proxy {meta['original_version']} (PyPI wheel, Rust/Pingora), threads "
              f"{meta.get('osp_threads', '?')}, presigned SigV4 URLs like osp (usage limit raised to 10^9), "
              "listener kept on loopback by integration/bench/loopback_bind.c")
        else:
            p(f"- original: object-storage-proxy {meta['original_version']} — "
              f"{meta.get('original_note', 'no measurements')}")
    if has_floor:
        p(f"- nio-floor: `integration/bench/nio-floor`, a bare SwiftNIO HTTP/1 reverse proxy (no auth, no signing), "
          f"threads {meta.get('osp_threads', '?')}; 1 KiB GET rounds only, a reference (no target)")
    elif "floor_note" in meta:
        p(f"- nio-floor: {meta['floor_note']}")
    if has_sigv4_floor:
        p(f"- sigv4-floor: `integration/bench/sigv4-floor`, nio-floor plus the signature work of any SigV4 gateway "
          f"(verify the presigned URL, drop the X-Amz-* parameters, re-sign for the backend; osp's S3Signing), "
          f"threads {meta.get('osp_threads', '?')}; presigned URL like osp; 1 KiB GET rounds only, a reference (no target)")
    elif "sigv4_floor_note" in meta:
        p(f"- sigv4-floor: {meta['sigv4_floor_note']}")
    if sizes or conns:
        p(f"- mode: {meta.get('mode', '?')}; transfers: {meta.get('reps', '?')} interleaved repetitions, median "
          f"(min–max); wrk: {meta.get('wrk_rounds', '?')} interleaved round(s) of {meta.get('wrk_duration', '?')} "
          f"per cell, {meta.get('wrk_threads', '?')}")
    else:
        p(f"- mode: {meta.get('mode', '?')}; {meta.get('wrk_threads', '?')}")
    p(f"- load average (1/5/15 min) at start: {meta.get('load_start', '?')}; at end: {meta.get('load_end', '?')} "
      "(anything above ~0 at start is other work sharing the 2 CPUs)")
    med = {}
    if sizes:
        p("")
        p("### Large-object throughput (curl, one connection, MB/s = 10^6 bytes/s)")
        p("")
        vs = ["haproxy", "direct"] + (["original"] if has_original else [])
        p("| op | size | " + " | ".join(paths) + " | " + " | ".join(f"osp/{x}" for x in vs) + " |")
        p("|---|---|" + "---:|" * (len(paths) + len(vs)))
    for op in ("GET", "PUT"):
        for size in sizes:
            cells = []
            for path in paths:
                vals = xfer.get((op, size, path), [])
                errs = xfer_err.get((op, size, path), [])
                m = statistics.median(vals) if vals else None
                med[(op, size, path)] = m
                if vals:
                    cell = f"{fmt(m)} ({fmt(min(vals))}–{fmt(max(vals))})"
                else:
                    cell = "—"
                if errs:
                    cell += f" **{len(errs)} ERR**"
                cells.append(cell)
            o = med[(op, size, "osp")]
            p(f"| {op} | {size} | " + " | ".join(cells) + " | "
              + " | ".join(fmt(ratio(o, med[(op, size, x)]), 2) for x in vs) + " |")
    if conns:
        p("")
        signed = ", ".join(x for x in ("osp", "sigv4-floor", "original") if x in rate_paths)
        signed = " and ".join(signed.rsplit(", ", 1))
        p(f"### 1 KiB GET rate (wrk --latency, keep-alive; same object, presigned URL for {signed})")
        p("")
        vs = ["haproxy", "direct"] + (["original"] if has_original else [])
        every = " / ".join(ABBREV[x] for x in rate_paths)
        p("| conns | " + " | ".join(f"{x} req/s" for x in rate_paths) + " | " + " | ".join(f"osp/{x}" for x in vs)
          + f" | p50 ms {every} | p99 ms {every} | nginx conns per 1000 req {every} "
          f"| proxy CPU µs/req {' / '.join(ABBREV[x] for x in proxies)} |")
        p("|---:|" + "---:|" * (len(rate_paths) + len(vs)) + "---|" * 4)
    rps_med, p99_med = {}, {}
    for c in conns:
        rps_cells, p50s, p99s, kconns, cpus = [], [], [], [], []
        for path in rate_paths:
            runs = wrk.get((c, path), [])
            if runs:
                r = statistics.median(x[0] for x in runs)
                rps_med[(c, path)] = r
                cell = fmt(r)
                bad = [x[3] for x in runs if x[3] not in ("", "0")]
                if bad:
                    cell += f" (errors: {'; '.join(bad)})"
                rps_cells.append(cell)
                p50s.append(fmt(statistics.median(x[1] for x in runs), 2))
                p99_med[(c, path)] = statistics.median(x[2] for x in runs)
                p99s.append(fmt(p99_med[(c, path)], 2))
                kc = [x[4] for x in runs if x[4] is not None]
                kconns.append(fmt(statistics.median(kc), 1) if kc else "?")
                if path != "direct":
                    cu = [x[5] for x in runs if x[5] is not None]
                    cpus.append(fmt(statistics.median(cu)) if cu else "?")
            else:
                rps_med[(c, path)] = None
                rps_cells.append("ERR")
                p50s.append("—")
                p99s.append("—")
                kconns.append("—")
                if path != "direct":
                    cpus.append("—")
            if wrk_err.get((c, path)):
                rps_cells[-1] += f" **{len(wrk_err[(c, path)])} ERR**"
        o = rps_med[(c, "osp")]
        p(f"| {c} | " + " | ".join(rps_cells) + " | " + " | ".join(fmt(ratio(o, rps_med[(c, x)]), 2) for x in vs) + " | "
          + " / ".join(p50s) + " | " + " / ".join(p99s) + " | " + " / ".join(kconns) + " | " + " / ".join(cpus) + " |")
    policy_ratios = policy_section(p, meta, pconns, pwrk, pwrk_err)
    cross_ratios = cross_section(p, meta, xwrk, xwrk_err)
    if rss:
        p("")
        p("### osp memory (/proc/<pid>/status)")
        p("")
        p("| measure | MiB |")
        p("|---|---:|")
    labels = [
        ("rss_idle", "VmRSS after start-up"),
        ("rss_max_large_get", "max VmRSS sampled during the large GETs (every 0.1 s)"),
        ("rss_max_large_put", "max VmRSS sampled during the large PUTs (every 0.1 s)"),
        ("hwm_after_large", "VmHWM after all large transfers (peak so far)"),
        ("hwm_end", "VmHWM at the end (after wrk 64 connections too)"),
    ]
    for k, label in labels:
        if k in rss:
            p(f"| {label} | {rss[k] / 1024:.1f} |")
    if allocs:
        requests, count, nbytes = allocs
        p("")
        p("### osp heap allocations (alloc_count.so, presigned 1 KiB GET, 16 connections)")
        p("")
        p("| requests | allocations per request | bytes allocated per request |")
        p("|---:|---:|---:|")
        p(f"| {requests:,} | {count / requests:.1f} | {nbytes / requests:,.0f} |")
    p("")
    p("### Targets")
    p("")
    p("| target | measured | result |")
    p("|---|---|---|")
    large = [s for s in sizes if s != "1KiB"]
    for op in ("GET", "PUT"):
        for size in large:
            r = ratio(med.get((op, size, "osp")), med.get((op, size, "haproxy")))
            ok = r is not None and r >= GET_PUT_TARGET and not xfer_err.get((op, size, "osp"))
            p(f"| {op} {size} ≥ {GET_PUT_TARGET}× haproxy | {fmt(r, 2)}× | {'PASS' if ok else 'FAIL'} |")
    for c in conns:
        r = ratio(rps_med.get((c, "osp")), rps_med.get((c, "haproxy")))
        ok = r is not None and r >= SMALL_TARGET
        p(f"| 1 KiB GET req/s, {c} conn ≥ {SMALL_TARGET}× haproxy | {fmt(r, 2)}× | {'PASS' if ok else 'FAIL'} |")
    if conns and "original_version" in meta:
        for c in conns:
            r = ratio(rps_med.get((c, "osp")), rps_med.get((c, "original")))
            ok = r is not None and r >= ORIGINAL_TARGET
            p(f"| 1 KiB GET req/s, {c} conn, osp ≥ {ORIGINAL_TARGET:g}× original | "
              f"{fmt(r, 2) + '×' if r is not None else 'n/a (original not measured)'} | "
              f"{('PASS' if ok else 'FAIL') if r is not None else 'n/a'} |")
        for c in conns:
            o, g = p99_med.get((c, "osp")), p99_med.get((c, "original"))
            ok = o is not None and g is not None and o <= g
            p(f"| 1 KiB GET p99, {c} conn, osp ≤ original | "
              f"{f'{o:.2f} ms vs {g:.2f} ms' if o is not None and g is not None else 'n/a (original not measured)'} | "
              f"{('PASS' if ok else 'FAIL') if g is not None else 'n/a'} |")
    if large:
        hwm = rss.get("hwm_after_large")
        ok = hwm is not None and hwm <= RSS_TARGET_KIB
        p(f"| osp peak RSS ≤ 64 MiB with a {large[-1]} object | "
          f"{'n/a' if hwm is None else f'{hwm / 1024:.1f} MiB'} | {'PASS' if ok else 'FAIL'} |")
    if cross_ratios:
        for c, name, (r, lo, hi), verdict in cross_ratios:
            p(f"| 1 KiB GET req/s, {c} conn, {name} ≥ {POLICY_TARGET}× allow-all (crossover, measured at once) | "
              f"{fmt(r, 3)}× (95 % interval {fmt(lo, 3)}–{fmt(hi, 3)}) | {verdict} |")
    else:
        for c, name, r, ok in policy_ratios:
            p(f"| 1 KiB GET req/s, {c} conn, {name} ≥ {POLICY_TARGET}× allow-all | {fmt(r, 3)}× | {'PASS' if ok else 'FAIL'} |")
    if has_floor:
        p("")
        p("Reference, not a target — nio-floor is the floor any SwiftNIO HTTP/1 proxy pays (the codec, one "
          "backend connection per client, no auth or signing): nio-floor / haproxy is how near NIO alone comes "
          "to haproxy; osp / nio-floor is how much of that rate osp keeps after its own per-request work.")
        p("")
        for c in conns:
            f, o, h = rps_med.get((c, "nio-floor")), rps_med.get((c, "osp")), rps_med.get((c, "haproxy"))
            p(f"- Reference, 1 KiB GET req/s, {c} conn: nio-floor / haproxy {fmt(ratio(f, h), 2)}×, "
              f"osp / nio-floor {fmt(ratio(o, f), 2)}×")
    if has_sigv4_floor:
        p("")
        p("Reference, not a target — sigv4-floor is nio-floor plus the signature work every SigV4 gateway must do "
          "(verify the client's presigned URL, drop the X-Amz-* parameters, re-sign with the backend key; osp's "
          "S3Signing on swift-crypto): the least any SigV4-verifying, re-signing gateway on SwiftNIO pays. "
          "sigv4-floor / haproxy is how near that comes to haproxy"
          + ("; sigv4-floor / nio-floor is how much of the bare NIO rate is left after the signature work"
             if has_floor else "")
          + "; osp / sigv4-floor is how much of that rate osp keeps after the rest of its per-request work.")
        p("")
        for c in conns:
            s, o, h = rps_med.get((c, "sigv4-floor")), rps_med.get((c, "osp")), rps_med.get((c, "haproxy"))
            f = rps_med.get((c, "nio-floor"))
            p(f"- Reference, 1 KiB GET req/s, {c} conn: sigv4-floor / haproxy {fmt(ratio(s, h), 2)}×, "
              + (f"sigv4-floor / nio-floor {fmt(ratio(s, f), 2)}×, " if has_floor else "")
              + f"osp / sigv4-floor {fmt(ratio(o, s), 2)}×")
    errors = ([(k, v) for k, v in xfer_err.items() if v] + [(k, v) for k, v in wrk_err.items() if v]
              + [(k, v) for k, v in pwrk_err.items() if v] + [(("crossover",) + k, v) for k, v in xwrk_err.items() if v])
    if errors:
        p("")
        p("### Errors")
        p("")
        for k, v in errors:
            for detail in v:
                p(f"- {' '.join(map(str, k))}: {detail}")
    if meta.get("signature_checks"):
        p("")
        p(f"Signature checks (each signing proxy really verifies what wrk replays): {meta['signature_checks']}")
        if "UNEXPECTED" in meta["signature_checks"]:
            p("")
            p("**A proxy did not verify as expected: its numbers above do not measure signed requests.**")
    if meta.get("verify"):
        p("")
        p(f"Integrity: {meta['verify']}")
    print("\n".join(out))


def policy_section(p, meta, pconns, pwrk, pwrk_err):
    """The policy-backend table; returns (conns, backend, ratio, ok) for the targets table."""
    if not pconns:
        return []
    p("")
    p("### Policy backends: 1 KiB GET rate, allow-all vs rules vs opa (warm decision cache)")
    p("")
    p(f"Four osp instances, identical but for `authorization:` (the control is a second allow-all: "
      f"control / allow-all is how far apart two identical instances read), same nginx and object; "
      f"{meta.get('policy_rounds', '?')} interleaved round(s) of {meta.get('policy_duration', meta.get('wrk_duration', '?'))} per cell "
      f"(order rotated each round, walked forwards and backwards in turn), median; ratio column: ratio of the medians (and the median and min–max of the per-round ratios; "
      f"target PASS/FAIL on the ratio of the medians). "
      f"Load average during this section: {meta.get('policy_load_start', '?')} → {meta.get('policy_load_end', '?')}.")
    p("")
    p("| conns | allow-all req/s | rules req/s | opa req/s | control req/s | rules / allow-all | opa / allow-all "
      "| control / allow-all | p50 ms a / r / o / c | p99 ms a / r / o / c | osp CPU µs/req a / r / o / c |")
    p("|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
    results = []
    for c in pconns:
        med, cells, p50s, p99s, cpus = {}, [], [], [], []
        for name in POLICY_PATHS:
            runs = list(pwrk.get((c, name), {}).values())
            if runs:
                med[name] = statistics.median(x[0] for x in runs)
                cell = fmt(med[name])
                bad = [x[3] for x in runs if x[3] not in ("", "0")]
                if bad:
                    cell += f" (errors: {'; '.join(bad)})"
                p50s.append(fmt(statistics.median(x[1] for x in runs), 2))
                p99s.append(fmt(statistics.median(x[2] for x in runs), 2))
                cu = [x[5] for x in runs if x[5] is not None]
                cpus.append(fmt(statistics.median(cu)) if cu else "?")
            else:
                med[name] = None
                cell = "ERR"
                p50s.append("—")
                p99s.append("—")
                cpus.append("—")
            if pwrk_err.get((c, name)):
                cell += f" **{len(pwrk_err[(c, name)])} ERR**"
            cells.append(cell)
        ratio_cells = []
        base = pwrk.get((c, "allow-all"), {})
        for name in ("rules", "opa", "control"):
            r = ratio(med[name], med["allow-all"])
            mine = pwrk.get((c, name), {})
            per_round = paired_ratios(mine, base)
            span = (f" (rounds: median {statistics.median(per_round):.2f}, {min(per_round):.2f}–{max(per_round):.2f})"
                    if len(per_round) > 1 else "")
            ratio_cells.append(f"{fmt(r, 3)}{span}")
            if name == "control":
                continue  # the noise floor, not a target
            clean = not pwrk_err.get((c, name)) and all(x[3] in ("", "0") for x in mine.values())
            results.append((c, name, r, r is not None and r >= POLICY_TARGET and clean))
        p(f"| {c} | " + " | ".join(cells) + " | " + " | ".join(ratio_cells) + " | "
          + " / ".join(p50s) + " | " + " / ".join(p99s) + " | " + " / ".join(cpus) + " |")
    p("")
    p(f"OPA server policy requests: {meta.get('policy_opa_warmup', '?')} before the measured rounds "
      f"(checks and warm-up, which fill osp's decision cache), **{meta.get('policy_opa_measured', '?')} during "
      f"the measured rounds** ({meta.get('policy_seconds', '?')} s; allow answers cached for 60 s).")
    if meta.get("policy_checks"):
        p("")
        p(f"Policy checks (each backend really decides): {meta['policy_checks']}")
        if "UNEXPECTED" in meta["policy_checks"]:
            p("")
            p("**A backend did not decide as configured: the policy ratios above do not measure what they claim.**")
    return results


def paired_ratios(mine, base):
    """Per round, a backend's rate over allow-all's (rounds both were measured in)."""
    return [mine[k][0] / base[k][0] for k in mine if k in base and base[k][0] > 0]


def paired_estimate(ratios, resamples=4000, seed=0):
    """The geometric mean of paired ratios and its 95 % bootstrap interval (rounds resampled with
    replacement; a fixed seed, so the same rows always give the same report)."""
    logs = [math.log(r) for r in ratios]
    rng = random.Random(seed)
    n = len(logs)
    means = sorted(statistics.fmean(logs[rng.randrange(n)] for _ in range(n)) for _ in range(resamples))
    return (math.exp(statistics.fmean(logs)), math.exp(means[int(0.025 * resamples)]),
            math.exp(means[int(0.975 * resamples) - 1]))


def cross_section(p, meta, xwrk, xwrk_err):
    """The crossover table; returns (conns, backend, (estimate, low, high), verdict) for the targets."""
    if not xwrk:
        return []
    p("")
    p("### Policy backends, crossover: two processes measured at once, roles swapped")
    p("")
    p(f"Two osp processes, P and Q; in each cell wrk runs on both at the same time (1 thread each), one "
      f"serving allow-all and the other the backend, then the other way round (`authorization:` rewritten, "
      f"SIGHUP; a cell starts once the reload is logged, GET secret/obj-1k answers as the backend must, and "
      f"5 requests refilled the caches). {meta.get('cross_rounds', '?')} rounds of {meta.get('cross_duration', '?')} "
      f"cells, {meta.get('cross_reloads', '?')} reloads in {meta.get('cross_seconds', '?')} s. What the machine "
      f"does to a cell it does to both sides, and each process serves each role equally often, so neither the "
      f"load's swings nor one instance reading above another enter the ratio. Ratios: the geometric mean over "
      f"the cells of the backend's value over allow-all's in the same cell, with its 95 % bootstrap interval; "
      f"control is allow-all on both sides (what the design reads for no difference). CPU is each process's "
      f"utime+stime per request.")
    p("")
    p("| conns | backend | cells | rate / allow-all (95 % interval; cells) | CPU per request / allow-all (95 % interval) "
      "| osp CPU µs/req backend / allow-all (median) |")
    p("|---:|---|---:|---|---|---|")
    results = []
    for (c, name) in sorted(xwrk, key=lambda k: (k[0], ("control", "rules", "opa").index(k[1]))):
        cells = xwrk[(c, name)]
        if len(cells) < 2:
            continue
        rates = [x[1] for x in cells]
        rate = paired_estimate(rates)
        cpu = paired_estimate([x[2] for x in cells])
        p(f"| {c} | {name} | {len(cells)} | {fmt(rate[0], 3)} ({fmt(rate[1], 3)}–{fmt(rate[2], 3)}; "
          f"{min(rates):.2f}–{max(rates):.2f}) | {fmt(cpu[0], 3)} ({fmt(cpu[1], 3)}–{fmt(cpu[2], 3)}) | "
          f"{fmt(statistics.median(x[3] for x in cells))} / {fmt(statistics.median(x[4] for x in cells))} |")
        if name == "control":
            continue
        clean = not xwrk_err.get((c, name)) and all(not x[5] for x in cells)
        if not clean:
            verdict = "FAIL (errors)"
        elif len(cells) < CROSS_MIN_CELLS:
            verdict = f"n/a ({len(cells)} cells: a bootstrap interval needs at least {CROSS_MIN_CELLS})"
        elif rate[1] >= POLICY_TARGET:
            verdict = f"PASS (the whole interval at or above {POLICY_TARGET})"
        elif rate[2] < POLICY_TARGET:
            verdict = f"FAIL (the whole interval below {POLICY_TARGET})"
        else:
            verdict = f"UNRESOLVED (the interval spans {POLICY_TARGET})"
        results.append((c, name, rate, verdict))
    return results

if __name__ == "__main__":
    main()

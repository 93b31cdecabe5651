#!/usr/bin/env bash
# Runs every osp test: the Swift unit tests, then the integration suite (real clients through a
# real osp against a signature-verifying S3 backend), then the release build the container image
# ships, then a short fuzzing run of each parser. Installs what it needs first.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# Each phase's start and the time so far, so a CI log shows where its minutes go.
phase() { printf '\n== run-tests: %s (at %d min %02d s)\n' "$1" $((SECONDS / 60)) $((SECONDS % 60)); }
phase setup
bash integration/setup.sh
# osp with the `OpenTelemetry` trait (swift-otel's OTLP/HTTP exporter), for integration/test_tracing.py
# (which skips itself without it), kept as .build-otel/debug/osp. Built first and in the same scratch
# path: it shares every dependency the default build compiles, so only swift-otel's own dependencies
# are extra, and the default build below recompiles just osp's targets without the trait (a scratch
# path of its own would compile everything twice). OSP_SKIP_OTEL_BUILD=1 skips it.
if [[ ${OSP_SKIP_OTEL_BUILD:-0} != 1 ]]; then
  phase "debug build with the OpenTelemetry trait"
  swift build --traits OpenTelemetry --product osp
  install -D -m 0755 "$(swift build --traits OpenTelemetry --show-bin-path)/osp" .build-otel/debug/osp
fi
phase "debug build"
swift build --build-tests
phase "Swift tests"
swift test --skip-build
# The fuzz corpus and every input that once crashed a parser, replayed through the fuzz entry
# points (a second, not a fuzzing run).
"$(swift build --show-bin-path)/osp-fuzz" replay all integration/fuzz/corpus integration/fuzz/regressions
phase "integration tests"
(cd integration && python3 -m pytest)
# The release build the container image ships: docker/Dockerfile RUNs this same script, so a change
# that breaks the optimized build fails here rather than in a `docker build`. It also leaves
# .build/release/osp for the benchmark (integration/bench/run.sh). OSP_SKIP_RELEASE_BUILD=1 skips it.
if [[ ${OSP_SKIP_RELEASE_BUILD:-0} != 1 ]]; then
  phase "release build"
  docker/build-release.sh
fi
# The benchmark's reference proxies (integration/bench/nio-floor and sigv4-floor: packages of their
# own, which run.sh builds on demand), compiled here so that they cannot break unnoticed; they leave
# the release binaries the benchmark runs. sigv4-floor compiles this checkout's S3Signing, and its
# `stages` run (a fraction of a second here) stops with an error if what it presigns no longer
# parses or verifies. OSP_SKIP_BENCH_BUILD=1 skips both.
if [[ ${OSP_SKIP_BENCH_BUILD:-0} != 1 ]]; then
  phase "benchmark reference builds"
  swift build -c release --package-path integration/bench/nio-floor
  swift build -c release --package-path integration/bench/sigv4-floor
  integration/bench/sigv4-floor/.build/release/sigv4-floor stages 200
fi
# Each libFuzzer target for OSP_FUZZ_SECONDS (10) seconds, in an instrumented release build; any
# crash fails the run. OSP_SKIP_FUZZ=1 skips it. docs/fuzzing.md has the rest. Built in .build, on
# top of the release build above: only Swift code is instrumented, so the C dependencies that build
# compiled (two BoringSSLs, llhttp, …) are reused, about 3.5 of the 9.5 minutes a build of its own
# takes on a 2-core machine. Its Swift objects replace the release build's (.build/release/osp, the
# binary already linked, stays), which is why this comes last.
if [[ ${OSP_SKIP_FUZZ:-0} != 1 ]]; then
  phase "fuzzing build and run"
  OSP_FUZZ_SCRATCH=${OSP_FUZZ_SCRATCH:-.build} integration/fuzz/run.sh "${OSP_FUZZ_SECONDS:-10}"
fi
phase done

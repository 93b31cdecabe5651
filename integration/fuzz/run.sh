#!/usr/bin/env bash
# Fuzzes osp's parsers with libFuzzer: builds Sources/osp-fuzz instrumented (ASan + libFuzzer
# coverage), runs each target for SECONDS, then prints one line per target: iterations, coverage,
# corpus size, crashes. Exits non-zero if any target crashed. docs/fuzzing.md has the details.
#
#   integration/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, every target)
#
# Each target starts from its committed seeds (integration/fuzz/corpus/<target>/) and the inputs of
# fixed bugs (integration/fuzz/regressions/<target>/), with the tokens of its input format
# (integration/fuzz/dictionaries/); new inputs go to a scratch corpus, crashes to
# a scratch crash directory (both printed at the end; OSP_FUZZ_WORKDIR=dir keeps them in dir, and a
# later run with the same dir goes on from that corpus). Extra libFuzzer flags: OSP_FUZZ_FLAGS.
# OSP_FUZZ_SCRATCH (default .build-fuzz) is the build's scratch path: CI passes .build, after the
# release build, so that the C dependencies (two BoringSSLs, llhttp, …), which the instrumentation
# does not touch, are not compiled a second time; the release build's Swift objects are replaced.
#
# Why not `-sanitize=fuzzer`: SwiftPM links every executable with `--defsym main=<module>_main`
# (so tests can link executable modules), and `-sanitize=fuzzer` links libFuzzer's own `main` as
# well; the link fails (undefined `osp_fuzz_main` without a Swift `main`, a duplicate `main` with one).
# So the code gets the same instrumentation `-sanitize=fuzzer` gives (`-sanitize-coverage=edge,
# indirect-calls,trace-cmp,inline-8bit-counters,pc-table`, ASan), the runtime without its `main`
# (libclang_rt.fuzzer_no_main) is linked explicitly, and osp-fuzz's own `main` calls
# LLVMFuzzerRunDriver.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

seconds=${1:-60}
shift || true
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || { echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2; }
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(sigv4-header sigv4-query sigv2 aws-chunked delete-objects restore-object bucket-destinations config router post-form)
fi

# libFuzzer's runtime ships with the toolchain's clang.
swiftc=$(readlink -f "$(command -v swiftc)")
runtime=$(ls "$(dirname "$swiftc")"/../lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-"$(uname -m)".a 2>/dev/null | head -n 1)
if [[ -z $runtime ]]; then
  echo "no libclang_rt.fuzzer_no_main in the Swift toolchain next to $swiftc" >&2
  exit 2
fi

flags=(
  --product osp-fuzz -c release --scratch-path "${OSP_FUZZ_SCRATCH:-.build-fuzz}"
  -Xswiftc -sanitize=address
  -Xswiftc -sanitize-coverage=edge,indirect-calls,trace-cmp,inline-8bit-counters,pc-table
  -Xswiftc -DFUZZING -Xswiftc -enable-experimental-feature -Xswiftc Extern
  -Xlinker "$runtime" -Xlinker -lstdc++
)
build_start=$SECONDS
swift build "${flags[@]}"
binary="$(swift build "${flags[@]}" --show-bin-path)/osp-fuzz"
echo "built $binary in $((SECONDS - build_start)) s"

work=${OSP_FUZZ_WORKDIR:-$(mktemp -d "${TMPDIR:-/tmp}/osp-fuzz.XXXXXX")}
mkdir -p "$work"

# Swift's crash reporter would hold the process (and this script) after a trap; libFuzzer and
# ASan report the crash themselves.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0:symbolize=1}

rows=()
total_crashes=0
for target in "${targets[@]}"; do
  corpus="$work/corpus/$target"
  crashes="$work/crashes/$target"
  mkdir -p "$corpus" "$crashes"
  inputs=()
  for dir in "integration/fuzz/corpus/$target" "integration/fuzz/regressions/$target"; do
    [[ -d $dir ]] && inputs+=("$dir")
  done
  # A dictionary of the format's tokens (HTTP heads, aws-chunked framing, XML, YAML).
  case $target in
    sigv4-header | sigv4-query | sigv2 | router) dictionary=integration/fuzz/dictionaries/http.dict ;;
    *) dictionary=integration/fuzz/dictionaries/$target.dict ;;
  esac
  dictionary_flag=()
  [[ -f $dictionary ]] && dictionary_flag=(-dict="$dictionary")
  log="$work/$target.log"
  start=$SECONDS
  status=0
  # -timeout: an input that takes 10 s is a hang, and a finding. The committed directories come
  # after the scratch corpus: libFuzzer adds new inputs only to the first directory.
  # shellcheck disable=SC2086
  OSP_FUZZ_TARGET=$target "$binary" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$crashes/" "${dictionary_flag[@]}" ${OSP_FUZZ_FLAGS:-} "$corpus" "${inputs[@]}" >"$log" 2>&1 || status=$?
  elapsed=$((SECONDS - start))

  iterations=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1 || true)
  if [[ -z $iterations ]]; then
    # A crash ends the run before the final stats: the last status line has the count.
    iterations=$(grep -oE '^#[0-9]+' "$log" | tail -n 1 | tr -d '#' || true)
  fi
  status_line=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  coverage=$(grep -oE 'cov: [0-9]+' <<<"$status_line" | cut -d' ' -f2 || true)
  corpus_size=$(grep -oE 'corp: [0-9]+' <<<"$status_line" | cut -d' ' -f2 || true)
  found=$(find "$crashes" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | wc -l)
  if [[ $status -ne 0 && $found -eq 0 ]]; then
    echo "osp-fuzz $target exited with $status without a crash file; log: $log" >&2
    tail -n 20 "$log" >&2
    found=1
  fi
  if [[ $found -gt 0 ]]; then
    # The report names the trap and, on its last line, the input in base64: enough to reproduce from
    # a CI log whose scratch directory is gone.
    echo "--- $target: crashed; the end of its log:"
    grep -vE '^(#[0-9]+|INFO:|MS:)' "$log" | tail -n 40
  fi
  total_crashes=$((total_crashes + found))
  rows+=("$(printf '%-15s %12s %9s %7s %8s %8s' "$target" "${iterations:-?}" "${coverage:-?}" "${corpus_size:-?}" "$found" "$elapsed")")
done

echo
printf '%-15s %12s %9s %7s %8s %8s\n' target iterations coverage corpus crashes seconds
printf '%s\n' "${rows[@]}"
echo
echo "logs, corpus and crashes: $work"
if [[ $total_crashes -gt 0 ]]; then
  echo "crashes (reproduce with: OSP_FUZZ_TARGET=<target> $binary FILE, or osp-fuzz replay <target> FILE):"
  find "$work/crashes" -type f -printf '  %P\n'
  exit 1
fi

#!/usr/bin/env bash
# Run the fuzz targets (fuzz/, cargo-fuzz + libFuzzer), each for a bounded
# time, on the stable toolchain. See docs/fuzzing.md.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# SECONDS_PER_TARGET defaults to 60; no TARGET runs them all. The corpus
# under fuzz/corpus/TARGET is seeded from the test fixtures (binaries built
# by the analyzer's tests when present, else a few built here, the CLI's
# JSON reports, sizegate.toml examples, webhook payloads) and grows across
# runs. A crash, timeout or out-of-memory stops the run with a non-zero
# exit; the input is in fuzz/artifacts/TARGET/.
#
# Environment: FUZZ_JOBS (parallel libFuzzer jobs per target, default 1),
# FUZZ_PROFILE (release, the default, or dev: unoptimized, quicker to build),
# FUZZ_SANITIZER (address, the default, or none), FUZZ_RSS_MB (memory
# limit, default 2048), FUZZ_TIMEOUT (seconds one input may take, default
# 10), FUZZ_CODEGEN_UNITS (default 1: slower build, faster fuzzing; CI's
# short smoke run uses 16), CARGO_TARGET_DIR (where to build; default
# fuzz/target), FUZZ_CORPUS (corpus directory, default fuzz/corpus),
# SIZEGATE_TEST_TARGET_DIR (the target dir of the test run whose fixture
# binaries seed the corpus; default CARGO_TARGET_DIR, else target/).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

seconds=${1:-60}
shift || true
all_targets=(analyze go_pclntab go_buildinfo diff config webhook debug_file container)
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all_targets[@]}")
case "$seconds" in '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 64 ;; esac

# cargo-fuzz needs `-Z` flags: RUSTC_BOOTSTRAP lets the stable compiler
# accept them, so no nightly toolchain is needed.
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz --version 0.13.2
sanitizer=${FUZZ_SANITIZER:-address}
build_flags=(--sanitizer "$sanitizer" --codegen-units "${FUZZ_CODEGEN_UNITS:-1}")
# `dev`: unoptimized, a much shorter build for short runs (CI's smoke run).
[ "${FUZZ_PROFILE:-release}" = dev ] && build_flags+=(--dev)

echo "==> building the fuzz targets (sanitizer: $sanitizer)"
if [ "${#targets[@]}" -eq "${#all_targets[@]}" ]; then
  (cd fuzz && cargo fuzz build "${build_flags[@]}")
else
  for t in "${targets[@]}"; do (cd fuzz && cargo fuzz build "${build_flags[@]}" "$t"); done
fi

# --- seed corpora --------------------------------------------------------------
corpus=${FUZZ_CORPUS:-$root/fuzz/corpus}
# The analyzer's tests build their fixtures under <target dir>/tmp.
test_target_dir=${SIZEGATE_TEST_TARGET_DIR:-${CARGO_TARGET_DIR:-$root/target}}
fixtures=$test_target_dir/tmp/analyze-fixtures
binaries=()
if [ -d "$fixtures" ]; then
  while IFS= read -r -d '' file; do binaries+=("$file"); done \
    < <(find "$fixtures" -type f -size -4M -print0)
fi
if [ "${#binaries[@]}" -eq 0 ]; then
  # No test run yet: build a few small binaries from the test sources.
  seeds=$(mktemp -d)
  trap 'rm -rf "$seeds"' EXIT
  src=$root/crates/sizegate-analyze/tests/fixtures
  if command -v cc >/dev/null 2>&1; then
    cc -O2 -o "$seeds/c-hello" "$src/c/hello.c" && binaries+=("$seeds/c-hello")
    cc -O2 -s -o "$seeds/c-hello-stripped" "$src/c/hello.c" && binaries+=("$seeds/c-hello-stripped")
  fi
  if command -v go >/dev/null 2>&1; then
    for spec in linux/amd64 linux/386 linux/s390x windows/amd64 darwin/arm64; do
      out=$seeds/go-${spec/\//-}
      (cd "$src/go/hello" && CGO_ENABLED=0 GOOS=${spec%/*} GOARCH=${spec#*/} go build -trimpath -ldflags='-s -w' -o "$out" .) && binaries+=("$out")
    done
  fi
fi
SIZEGATE_DEBUG_FIXTURES=$test_target_dir/tmp/debug-files python3 fuzz/seeds.py "$corpus" "${binaries[@]}"

# --- fuzzing ---------------------------------------------------------------------
status=0
failed=0
for t in "${targets[@]}"; do
  mkdir -p "$corpus/$t" "fuzz/artifacts/$t"
  echo "==> fuzzing $t for ${seconds}s ($(find "$corpus/$t" -type f | wc -l) inputs in the corpus)"
  log=fuzz/artifacts/$t/last-run.log
  # With -jobs, libFuzzer forks workers that log to fuzz-N.log; one job
  # runs in this process and logs here.
  jobs=()
  [ "${FUZZ_JOBS:-1}" -le 1 ] || jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
  if ! (cd fuzz && cargo fuzz run "${build_flags[@]}" "$t" "$corpus/$t" -- \
      -max_total_time="$seconds" \
      -timeout="${FUZZ_TIMEOUT:-10}" \
      -rss_limit_mb="${FUZZ_RSS_MB:-2048}" \
      -malloc_limit_mb="${FUZZ_RSS_MB:-2048}" \
      "${jobs[@]}" \
      -artifact_prefix="artifacts/$t/" \
      -print_final_stats=1) >"$log" 2>&1; then
    echo "!! $t found a problem; the end of its log ($log):"
    tail -n 40 "$log"
    status=1
    failed=$((failed + 1))
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)|cov: [0-9]+' "$log" | tail -n 3 || true
done
echo "fuzz: $((${#targets[@]} - failed)) of ${#targets[@]} targets clean, $failed with findings"
exit "$status"

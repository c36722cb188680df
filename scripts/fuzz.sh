#!/usr/bin/env bash
# A long run of libFuzzer targets: ./scripts/fuzz.sh [SECONDS per target, default 600] [TARGET...]
# (every target unless some are named: decode, checkpoint, config, ...).
# FUZZ_MAX_LEN=N caps the input size (libFuzzer's -max_len): the config target
# runs about 3x faster at 1024 bytes, with about the same coverage.
# Builds the targets with clang (build/fuzz), runs each from its seed corpus
# (tests/fuzz/corpus/<target>) for SECONDS, prints its executions and speed,
# and merges into the seed corpus the inputs that reached new coverage (so
# the corpora grow with what the runs find; review and commit them). A crash
# or hang stops the run with the input's path. Not part of the test suite:
# scripts/test.sh runs each target for FLOWWATCH_FUZZ_SECONDS (20 s).
set -euo pipefail
source "$(dirname "$0")/common.sh"

SECONDS_PER_TARGET="${1:-600}"
case "$SECONDS_PER_TARGET" in '' | *[!0-9]* | 0) echo "usage: $0 [SECONDS per target] [TARGET...]" >&2; exit 2 ;; esac
shift || true
ONLY=("$@")
for name in "${ONLY[@]}"; do
  [ -f "$FLOWWATCH_ROOT/tests/fuzz/fuzz_$name.cpp" ] || { echo "no fuzz target '$name' (tests/fuzz/fuzz_$name.cpp)" >&2; exit 2; }
done
ensure_packages "${BUILD_PACKAGES[@]}" clang libclang-rt-14-dev
log "building the fuzz targets (clang, build/fuzz)"
CC=clang CXX=clang++ cmake_build "$FLOWWATCH_ROOT/build/fuzz" RelWithDebInfo -DFLOWWATCH_FUZZ=ON \
  -DFLOWWATCH_TESTS=OFF -DFLOWWATCH_BENCH=OFF -- fuzz_targets >&2

printf '| target | seconds | executions | executions/s | seed inputs before | after |\n|---|---|---|---|---|---|\n'
for target in "$FLOWWATCH_ROOT"/build/fuzz/tests/fuzz/fuzz_*; do
  [ -x "$target" ] || continue
  name="$(basename "$target")"
  if [ "${#ONLY[@]}" -gt 0 ] && [[ " ${ONLY[*]} " != *" ${name#fuzz_} "* ]]; then continue; fi
  corpus="$FLOWWATCH_ROOT/tests/fuzz/corpus/${name#fuzz_}"
  work="$(mktemp -d)"
  before="$(find "$corpus" -type f | wc -l)"
  log "$name: ${SECONDS_PER_TARGET}s"
  if ! (cd "$work" && "$target" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
      ${FUZZ_MAX_LEN:+-max_len="$FUZZ_MAX_LEN"} \
      -print_final_stats=1 "$work" "$corpus" >"$work/fuzz.log" 2>&1); then
    tail -n 60 "$work/fuzz.log" >&2
    echo "fuzz target $name failed: the input is in $work (crash-* or timeout-*); minimize it and add it to $corpus" >&2
    exit 1
  fi
  runs="$(grep -E '^stat::number_of_executed_units' "$work/fuzz.log" | awk '{print $2}')"
  rm -f "$work/fuzz.log"
  # Only the inputs that add coverage go into the seed corpus.
  "$target" -merge=1 "$corpus" "$work" >/dev/null 2>&1
  after="$(find "$corpus" -type f | wc -l)"
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$SECONDS_PER_TARGET" "$runs" "$((runs / SECONDS_PER_TARGET))" "$before" "$after"
  rm -rf "$work"
done

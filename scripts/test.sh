#!/usr/bin/env bash
# The whole test suite, as CI runs it: a warning-free build with every unit,
# conformance and integration test; the same tests under ASan+UBSan; the
# concurrency tests (rings, shards, detection, the daemon's decoder pool, the
# alert dispatcher) under TSan; and, when clang is available, each libFuzzer
# target for a bounded time. With FLOWWATCH_TEST_IMAGE=1 it also builds and
# checks the container image (deploy/test-image.sh, root only).
set -euo pipefail
source "$(dirname "$0")/common.sh"

FUZZ_SECONDS="${FLOWWATCH_FUZZ_SECONDS:-20}"
ensure_packages "${BUILD_PACKAGES[@]}" clang libclang-rt-14-dev kcat prometheus prometheus-alertmanager
# Node.js validates the Kubernetes manifests (deploy/k8s/test.sh); kubectl, which
# renders them, is not in Debian 12 (../shared/TOOLCHAIN.md): without it that test is skipped.
command -v node >/dev/null && command -v npm >/dev/null || ensure_packages nodejs npm
command -v kubectl >/dev/null || log "kubectl not found: the Kubernetes manifest test will be skipped"
# The manifest validator's npm packages (kubernetes-models; deploy/k8s/validate/package-lock.json).
[ -d "$FLOWWATCH_ROOT/deploy/k8s/validate/node_modules" ] ||
  npm ci --prefix "$FLOWWATCH_ROOT/deploy/k8s/validate" --no-audit --no-fund --loglevel=error
# Azurite and Microsoft's JavaScript Blob SDK, for the Blob Storage source's tests
# (tests/integration/blob/package-lock.json).
[ -d "$FLOWWATCH_ROOT/tests/integration/blob/node_modules" ] ||
  npm ci --prefix "$FLOWWATCH_ROOT/tests/integration/blob" --no-audit --no-fund --loglevel=error

run_ctest() {
  local dir="$1"
  shift
  (cd "$dir" && ctest --output-on-failure -j "$(jobs)" --timeout 600 "$@")
}

log "build (RelWithDebInfo, -Werror) and all tests"
cmake_build "$FLOWWATCH_ROOT/build/ci" RelWithDebInfo -DFLOWWATCH_WERROR=ON
run_ctest "$FLOWWATCH_ROOT/build/ci"

log "ASan+UBSan build and all tests"
cmake_build "$FLOWWATCH_ROOT/build/asan" RelWithDebInfo -DFLOWWATCH_SANITIZE=address,undefined -DFLOWWATCH_BENCH=OFF
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest "$FLOWWATCH_ROOT/build/asan"

log "TSan build and the concurrency tests"
cmake_build "$FLOWWATCH_ROOT/build/tsan" RelWithDebInfo -DFLOWWATCH_SANITIZE=thread -DFLOWWATCH_BENCH=OFF \
  -- fw_shard_tests fw_detect_tests fw_common_tests fw_daemon_pipeline_tests fw_alert_tests
TSAN_OPTIONS=halt_on_error=1 run_ctest "$FLOWWATCH_ROOT/build/tsan" -R 'fw_(shard|detect|common|daemon_pipeline|alert)_tests'

if command -v clang++ >/dev/null; then
  log "fuzzing each target for ${FUZZ_SECONDS}s (clang libFuzzer)"
  CC=clang CXX=clang++ cmake_build "$FLOWWATCH_ROOT/build/fuzz" RelWithDebInfo -DFLOWWATCH_FUZZ=ON \
    -DFLOWWATCH_TESTS=OFF -DFLOWWATCH_BENCH=OFF -- fuzz_targets
  for target in "$FLOWWATCH_ROOT"/build/fuzz/tests/fuzz/fuzz_*; do
    name="$(basename "$target")"
    corpus="$FLOWWATCH_ROOT/tests/fuzz/corpus/${name#fuzz_}"
    work="$(mktemp -d)"
    # -timeout: an input that runs for 10 s is a hang, reported as one (timeout-*).
    if ! "$target" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        "$work" "$corpus" >"$work.log" 2>&1; then
      tail -n 60 "$work.log" >&2
      echo "fuzz target $name failed: the crashing input is in $PWD (crash-* or timeout-*); add it to $corpus" >&2
      exit 1
    fi
    echo "  $name: $(grep -E '^stat::number_of_executed_units' "$work.log" | awk '{print $2}') runs, no failures"
    rm -rf "$work" "$work.log"
  done
else
  log "clang not found: fuzz targets skipped"
fi
if [ "${FLOWWATCH_TEST_IMAGE:-0}" = 1 ]; then
  log "container image (deploy/test-image.sh: debootstrap, buildah, chroot; 2.5 to 4 min)"
  "$FLOWWATCH_ROOT/deploy/test-image.sh"
fi
log "all tests passed"

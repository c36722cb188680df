#!/usr/bin/env bash
# `flowwatch run` catching up from Blob Storage (source.blob, Azurite on
# 127.0.0.1) against `flowwatch replay` of the same blobs from local files,
# with the same configuration, alternating, ROUNDS each (run_vs_replay.sh).
# The issue's target (15): the catch-up at >= 70% of replay's rate.
#
#   bench/blob_throughput.sh [DIR] [ROUNDS]   (default: the realistic seed-1 folder of
#                                              bench/detection_quality, 2 rounds)
#
# The blobs are uploaded whole once (write_blobs.mjs, STEP 0). 1 decoder and
# 1 shard for both; PARALLEL_READS (default 8) sets source.blob.parallel_reads.
# Needs the npm packages of tests/integration/blob.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/bench/run_vs_replay.sh"
build="${BUILD:-$root/build/rel}"
fw="$build/daemon/flowwatch"
node_dir="$root/tests/integration/blob"
dir="${1:-$build/../bench-data/realistic-80-240-1}" rounds="${2:-2}"
[ -x "$fw" ] || { echo "missing $fw: cmake -S . -B build/rel -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build/rel flowwatch" >&2; exit 2; }
[ -d "$dir" ] || { echo "no folder $dir: run build/rel/bench/detection_quality --seeds 1 --dir build/bench-data once, or name one" >&2; exit 2; }
[ -x "$node_dir/node_modules/.bin/azurite-blob" ] || { echo "npm ci --prefix $node_dir first" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is missing (apt-get install curl)" >&2; exit 2; }
work="$(mktemp -d)"
pid="" azurite=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$azurite" ] && kill "$azurite" 2>/dev/null; rm -rf "$work"' EXIT
start_azurite "$node_dir" "$work" "$dir"
common="$(bench_common_config "$work" "$dir")"
printf 'source: {files: ["%s"], idle_timeout: 5s}\n%s\n' "$dir" "$common" > "$work/replay.yaml"
printf 'source:\n  blob: {connection_string: "%s", containers: [flowlogs], poll_interval: 1s, parallel_reads: %s}\n  idle_timeout: 5s\n%s\n' \
  "$cs" "${PARALLEL_READS:-8}" "$common" > "$work/run.yaml"
run_vs_replay "$fw" "$work" "$dir" "$rounds" "$work/replay.yaml" "$work/run.yaml" "Blob Storage"

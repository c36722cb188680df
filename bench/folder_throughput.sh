#!/usr/bin/env bash
# `flowwatch run` following a folder (source.files) against `flowwatch replay`
# of the same folder, with the same configuration, alternating, ROUNDS each.
# The issue's target: a daemon as fast as replay.
#
#   bench/folder_throughput.sh [DIR] [ROUNDS]   (default: the realistic seed-1 folder of
#                                                bench/detection_quality, 3 rounds)
#
# The daemon is timed from its start (startup and the first walk included)
# until /metrics (polled every 50 ms) counts every tuple replay applied; peak
# RSS from /proc. 1 decoder and 1 shard for both.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/bench/run_vs_replay.sh"
build="${BUILD:-$root/build/rel}"
fw="$build/daemon/flowwatch"
dir="${1:-$build/../bench-data/realistic-80-240-1}" rounds="${2:-3}"
[ -x "$fw" ] || { echo "missing $fw: cmake -S . -B build/rel -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build/rel flowwatch" >&2; exit 2; }
[ -d "$dir" ] || { echo "no folder $dir: run build/rel/bench/detection_quality --seeds 1 --dir build/bench-data once, or name one" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is missing (apt-get install curl)" >&2; exit 2; }
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
inventory=""
[ -f "$dir/inventory.csv" ] && inventory="inventory: {file: \"$dir/inventory.csv\"}"
cat > "$work/cfg.yaml" <<CFG
source: {files: ["$dir"], idle_timeout: 5s, poll_interval: 1s}
$inventory
state: {dir: "$work/state", checkpoint_interval: 30s}
alerts: {file: "$work/alerts.jsonl"}
http: {listen: "127.0.0.1:0"}
pipeline: {decoders: 1, shards: 1}
CFG
run_vs_replay "$fw" "$work" "$dir" "$rounds" "$work/cfg.yaml" "$work/cfg.yaml" "folder"

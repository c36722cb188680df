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
now() { date +%s.%N; }
printf '| round | replay s | run s | run / replay rate | run peak RSS |\n|---|---|---|---|---|\n'
for round in $(seq 1 "$rounds"); do
  t0=$(now)
  "$fw" replay -q --config "$work/cfg.yaml" --summary "$work/replay.json" "$dir" > /dev/null
  replay_s=$(echo "$(now) - $t0" | bc)
  tuples=$(sed -n 's/.*"tuples":\([0-9]*\).*/\1/p' "$work/replay.json")
  rm -rf "$work/state"
  t0=$(now)
  "$fw" run --config "$work/cfg.yaml" > "$work/run.log" 2>&1 & pid=$!
  for _ in $(seq 1 500); do [ -s "$work/state/summary.json" ] && break; sleep 0.02; done
  api=$(sed -n 's/.*"http_listen":"\([^"]*\)".*/\1/p' "$work/state/summary.json")
  applied=0
  for _ in $(seq 1 12000); do  # at most 10 minutes
    applied=$(curl -s "http://$api/metrics" | awk '$1=="flowwatch_shard_tuples_applied_total"{s+=$2} END{printf "%d", s}')
    [ "$applied" = "$tuples" ] && break
    sleep 0.05
  done
  run_s=$(echo "$(now) - $t0" | bc)
  rss=$(awk '/VmHWM/{printf "%.0f MB", $2/1024}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" || true; pid=""
  [ "$applied" = "$tuples" ] || { echo "the daemon applied $applied of $tuples tuples" >&2; exit 1; }
  printf '| %d | %.2f | %.2f | %.0f%% | %s |\n' "$round" "$replay_s" "$run_s" "$(echo "100 * $replay_s / $run_s" | bc -l)" "$rss"
done

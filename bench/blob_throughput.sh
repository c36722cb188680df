#!/usr/bin/env bash
# `flowwatch run` catching up from Blob Storage (source.blob, Azurite on
# 127.0.0.1) against `flowwatch replay` of the same blobs from local files,
# with the same configuration, alternating, ROUNDS each. The issue's target
# (15): the catch-up at >= 70% of replay's rate.
#
#   bench/blob_throughput.sh [DIR] [ROUNDS]   (default: the realistic seed-1 folder of
#                                              bench/detection_quality, 2 rounds)
#
# The blobs are uploaded whole once (write_blobs.mjs, STEP 0). The daemon is
# timed from its start (startup and the first listing included) until
# /metrics (polled every 50 ms) counts every tuple replay applied.
# 1 decoder and 1 shard for both. Needs the npm packages of tests/integration/blob.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
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
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/azurite"
"$node_dir/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" --location "$work/azurite" \
  --loose --skipApiVersionCheck --silent > "$work/azurite.log" 2>&1 & azurite=$!
key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
cs="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$port/devstoreaccount1;"
for _ in $(seq 1 100); do curl -s "http://127.0.0.1:$port/" > /dev/null && break; sleep 0.1; done
t0=$(date +%s.%N)
blobs=$(node "$node_dir/write_blobs.mjs" "$cs" flowlogs "$dir" 0 1000000000 0)
echo "uploaded $blobs blobs in $(printf '%.0f' "$(echo "$(date +%s.%N) - $t0" | bc)") s"
inventory=""
[ -f "$dir/inventory.csv" ] && inventory="inventory: {file: \"$dir/inventory.csv\"}"
common="state: {dir: \"$work/state\", checkpoint_interval: 30s}
alerts: {file: \"$work/alerts.jsonl\"}
http: {listen: \"127.0.0.1:0\"}
pipeline: {decoders: 1, shards: 1}
$inventory"
printf 'source: {files: ["%s"], idle_timeout: 5s}\n%s\n' "$dir" "$common" > "$work/replay.yaml"
printf 'source:\n  blob: {connection_string: "%s", containers: [flowlogs], poll_interval: 1s}\n  idle_timeout: 5s\n%s\n' \
  "$cs" "$common" > "$work/run.yaml"
now() { date +%s.%N; }
printf '| round | replay s | run (Blob Storage) s | run / replay rate | run peak RSS |\n|---|---|---|---|---|\n'
for round in $(seq 1 "$rounds"); do
  t0=$(now)
  "$fw" replay -q --config "$work/replay.yaml" --summary "$work/replay.json" "$dir" > /dev/null
  replay_s=$(echo "$(now) - $t0" | bc)
  tuples=$(sed -n 's/.*"tuples":\([0-9]*\).*/\1/p' "$work/replay.json")
  rm -rf "$work/state"
  t0=$(now)
  "$fw" run --config "$work/run.yaml" > "$work/run.log" 2>&1 & pid=$!
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
  [ "$applied" = "$tuples" ] || { echo "the daemon applied $applied of $tuples tuples" >&2; tail -5 "$work/run.log" >&2; exit 1; }
  printf '| %d | %.2f | %.2f | %.0f%% | %s |\n' "$round" "$replay_s" "$run_s" "$(echo "100 * $replay_s / $run_s" | bc -l)" "$rss"
done

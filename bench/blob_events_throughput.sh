#!/usr/bin/env bash
# `flowwatch run` following Event Grid's BlobCreated events
# (source.kafka.follow_blob_events) through the test broker, reading the blobs
# they name from Blob Storage (Azurite on 127.0.0.1), against `flowwatch
# replay` of the same blobs from local files, alternating, ROUNDS each
# (run_vs_replay.sh; each round a consumer group of its own).
#
#   bench/blob_events_throughput.sh [DIR] [ROUNDS]   (default: the realistic seed-1 folder of
#                                                     bench/detection_quality, 2 rounds)
#
# The blobs are uploaded whole once (write_blobs.mjs, STEP 0), one
# BlobCreated event a blob written beside (the Event Grid and CloudEvents
# schemas alternating, keyed by subject), put in the order of the blobs'
# hours (as Azure's would come) and produced once to the mock broker
# (tests/integration/kafka/mock_broker, 8 partitions). 1 decoder and 1 shard
# for both. Each event costs one ranged Get Blob, made one after another on
# the consumer's thread: this measures that bound. Needs the npm packages of
# tests/integration/blob and kcat.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/bench/run_vs_replay.sh"
build="${BUILD:-$root/build/rel}"
fw="$build/daemon/flowwatch"
mock="$build/tests/integration/kafka/mock_broker"
node_dir="$root/tests/integration/blob"
dir="${1:-$build/../bench-data/realistic-80-240-1}" rounds="${2:-2}"
for f in "$fw" "$mock"; do
  [ -x "$f" ] || { echo "missing $f: cmake -S . -B build/rel -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build/rel flowwatch mock_broker" >&2; exit 2; }
done
[ -d "$dir" ] || { echo "no folder $dir: run build/rel/bench/detection_quality --seeds 1 --dir build/bench-data once, or name one" >&2; exit 2; }
[ -x "$node_dir/node_modules/.bin/azurite-blob" ] || { echo "npm ci --prefix $node_dir first" >&2; exit 2; }
for c in curl kcat; do command -v $c >/dev/null || { echo "$c is missing (apt-get install $c)" >&2; exit 2; }; done
work="$(mktemp -d)"
pid="" azurite="" broker=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$azurite" ] && kill "$azurite" 2>/dev/null; [ -n "$broker" ] && kill "$broker" 2>/dev/null; rm -rf "$work"' EXIT
start_azurite "$node_dir" "$work" "$dir" "$work/events.txt"
# The uploads finish in any order; Azure's events come as the hours go by:
# produce them in the order of the hour each blob's path names.
sed -E 's|^(.*/y=([0-9]+)/m=([0-9]+)/d=([0-9]+)/h=([0-9]+)/.*)$|\2\3\4\5\t\1|' "$work/events.txt" |
  sort -s -t $'\t' -k1,1 | cut -f2- > "$work/events.sorted" && mv "$work/events.sorted" "$work/events.txt"

mkfifo "$work/broker.in"
"$mock" 1 events 8 <"$work/broker.in" >"$work/broker.out" 2>"$work/broker.log" & broker=$!
exec {broker_in}>"$work/broker.in"
for _ in $(seq 100); do grep -q '^bootstrap ' "$work/broker.out" && break; sleep 0.05; done
bootstrap="$(sed -n 's/^bootstrap //p' "$work/broker.out")"
[ -n "$bootstrap" ] || { echo "the mock broker did not start: $(cat "$work/broker.log")" >&2; exit 1; }
kcat -P -b "$bootstrap" -t events -K $'\t' -l "$work/events.txt"
stored=$(kcat -C -b "$bootstrap" -t events -o beginning -e -q -f 'x\n' | wc -l)
[ "$stored" -eq "$blobs" ] || { echo "the mock broker kept $stored of $blobs events" >&2; exit 1; }
echo "produced $stored events ($(du -h "$work/events.txt" | cut -f1)) to 8 partitions"

common="$(bench_common_config "$work" "$dir")"
printf 'source: {files: ["%s"], idle_timeout: 5s}\n%s\n' "$dir" "$common" > "$work/replay.yaml"
printf 'source:\n  kafka: {brokers: "%s", topic: events, group_id: "bench-@ROUND@", follow_blob_events: true}\n  blob: {connection_string: "%s", containers: [flowlogs]}\n  idle_timeout: 5s\n%s\n' \
  "$bootstrap" "$cs" "$common" > "$work/run.yaml"
run_vs_replay "$fw" "$work" "$dir" "$rounds" "$work/replay.yaml" "$work/run.yaml" "Event Grid events, Blob Storage"

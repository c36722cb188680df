#!/usr/bin/env bash
# Daemon throughput from a Kafka-protocol broker, end to end, against raw
# consumption of the same topic by kcat. Target: the daemon reaches >= 70% of
# kcat's rate.
#
#   bench/daemon_throughput.sh [VMS] [HOURS] [PARTITIONS] [ROUNDS]   (default 1000 4 32 3)
#
# The steady workload (VMS x 5 ports, HOURS of NSG v2 flow logs, one message per
# record as Event Hubs carries them) is produced once with kcat (lz4) to
# librdkafka's mock cluster (tests/integration/kafka/mock_broker) on 127.0.0.1.
# The mock keeps about 5 MiB per partition: spread bigger workloads over more
# partitions (the script checks that nothing was dropped). Then, ROUNDS times:
#  - raw: `kcat -C -o beginning -e` into /dev/null (no consumer group);
#  - replay: `flowwatch replay` of the same messages from NDJSON files: what
#    the pipeline (decode, shards, detection, port inventory) does alone;
#  - daemon: `flowwatch run` in a new consumer group, timed from its partition
#    assignment (the mock's first group join takes ~3 s, reported apart) until
#    its summary says every message was processed (summary written every
#    ~100 ms: the commit interval); peak RSS from /proc.
# Both run on the same machine as the broker. The best round of each is reported.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD:-$root/build-rel}"
fw="$build/daemon/flowwatch"
mock="$build/tests/integration/kafka/mock_broker"
vms="${1:-1000}" hours="${2:-4}" partitions="${3:-32}" rounds="${4:-3}"
for f in "$fw" "$mock"; do
  [ -x "$f" ] || { echo "missing $f: cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build-rel flowwatch mock_broker" >&2; exit 2; }
done
command -v kcat >/dev/null || { echo "kcat is missing (apt-get install kcat)" >&2; exit 2; }

data="${DIR:-$root/build/bench-data/daemon-$vms-$hours}"
if [ ! -f "$data/.complete" ]; then
  rm -rf "$data"
  "$fw" gen --scenario steady --vms "$vms" --ports-per-vm 5 --hours "$hours" --messages --out "$data" 2>&1 | tee "$data.gen"
  mv "$data.gen" "$data/gen.txt"
  touch "$data/.complete"
fi
messages=$(sed -n 's/.*: \([0-9]*\) messages,.*/\1/p' "$data/gen.txt")
tuples=$(sed -n 's/.* \([0-9]*\) tuples in .*/\1/p' "$data/gen.txt")
bytes=$(stat -c %s "$data/messages.ndjson")

work="$(mktemp -d)"
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null || true
  exec {broker_in}>&- 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The broker exits when its stdin closes (when this script ends).
mkfifo "$work/broker.in"
"$mock" 1 flowlogs "$partitions" <"$work/broker.in" >"$work/broker.out" 2>"$work/broker.log" &
exec {broker_in}>"$work/broker.in"
for _ in $(seq 100); do grep -q '^bootstrap ' "$work/broker.out" && break; sleep 0.05; done
bootstrap="$(sed -n 's/^bootstrap //p' "$work/broker.out")"
[ -n "$bootstrap" ] || { echo "the mock broker did not start: $(cat "$work/broker.log")" >&2; exit 1; }

now() { date +%s.%N; }
printf 'workload: %d messages, %d tuples, %.0f MB (%d VMs x 5 ports, %d h), %d partitions\n' \
  "$messages" "$tuples" "$(echo "$bytes / 1000000" | bc -l)" "$vms" "$hours" "$partitions"
t0=$(now)
kcat -P -b "$bootstrap" -t flowlogs -K $'\t' -l -z lz4 "$data/messages.ndjson"
printf 'produced with kcat (lz4) in %.1f s\n' "$(echo "$(now) - $t0" | bc -l)"
stored=$(kcat -C -b "$bootstrap" -t flowlogs -o beginning -e -q -f 'x\n' | wc -l)
if [ "$stored" -ne "$messages" ]; then
  echo "the mock broker kept $stored of $messages messages (about 5 MiB per partition): use more partitions" >&2
  exit 1
fi

best_raw=""
for r in $(seq "$rounds"); do
  t0=$(now)
  kcat -C -b "$bootstrap" -t flowlogs -o beginning -e -q >/dev/null
  s=$(echo "$(now) - $t0" | bc -l)
  printf '  raw round %d: %.2f s\n' "$r" "$s"
  if [ -z "$best_raw" ] || [ "$(echo "$s < $best_raw" | bc -l)" = 1 ]; then best_raw=$s; fi
done

# The pipeline's own ceiling on this machine: replay of the same messages from
# files (no broker, no consumer), in NDJSON files of 20,000 messages.
if [ ! -f "$data/replay/.complete" ]; then
  mkdir -p "$data/replay"
  cut -f2- "$data/messages.ndjson" | split -l 20000 -d -a 3 --additional-suffix=.ndjson - "$data/replay/part"
  touch "$data/replay/.complete"
fi
best_replay=""
for r in $(seq "$rounds"); do
  "$fw" replay -q --inventory "$data/inventory.csv" --alerts /dev/null --summary "$work/replay.json" "$data/replay"
  s=$(sed -n 's/.*"seconds":\([0-9.]*\).*/\1/p' "$work/replay.json")
  printf '  replay round %d: %.2f s\n' "$r" "$s"
  if [ -z "$best_replay" ] || [ "$(echo "$s < $best_replay" | bc -l)" = 1 ]; then best_replay=$s; fi
done

best_daemon="" best_join="" best_rss=""
for r in $(seq "$rounds"); do
  dir="$work/daemon-$r"
  mkdir -p "$dir"
  cat >"$dir/flowwatch.yaml" <<EOF
source:
  kafka:
    brokers: "$bootstrap"
    topic: flowlogs
    group_id: bench-$r
    commit_interval: 100ms
inventory:
  file: $data/inventory.csv
state:
  dir: $dir/state
alerts:
  file: $dir/alerts.jsonl
http:
  listen: "127.0.0.1:0"
EOF
  t0=$(now)
  "$fw" run --config "$dir/flowwatch.yaml" 2>"$dir/daemon.log" &
  daemon_pid=$!
  deadline=$(( $(date +%s) + 600 ))
  until grep -q 'kafka: assigned partitions' "$dir/daemon.log"; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "no partition assignment: $(tail -5 "$dir/daemon.log")" >&2; exit 1; }
    sleep 0.02
  done
  t1=$(now)
  until [ "$(sed -n 's/.*"messages":\([0-9]*\).*/\1/p' "$dir/state/summary.json" 2>/dev/null || echo 0)" = "$messages" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "the daemon did not finish: $(tail -5 "$dir/daemon.log")" >&2; exit 1; }
    sleep 0.02
  done
  t2=$(now)
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$daemon_pid/status")
  cpu=$(awk '{printf "%.1f", ($14 + $15) / 100}' "/proc/$daemon_pid/stat")
  kill -TERM "$daemon_pid"
  wait "$daemon_pid"
  daemon_pid=""
  got=$(sed -n 's/.*"tuples":\([0-9]*\).*/\1/p' "$dir/state/summary.json")
  [ "$got" = "$tuples" ] || { echo "the daemon applied $got tuples, expected $tuples" >&2; exit 1; }
  s=$(echo "$t2 - $t1" | bc -l)
  join=$(echo "$t1 - $t0" | bc -l)
  pauses=$(sed -n 's/.*"pauses":\([0-9]*\).*/\1/p' "$dir/state/summary.json")
  printf '  daemon round %d: %.2f s after a %.1f s group join, %s s CPU, peak RSS %d MB, %d partition pauses\n' \
    "$r" "$s" "$join" "$cpu" "$((rss / 1024))" "$pauses"
  if [ -z "$best_daemon" ] || [ "$(echo "$s < $best_daemon" | bc -l)" = 1 ]; then
    best_daemon=$s best_join=$join best_rss=$rss
  fi
done

awk -v raw="$best_raw" -v replay="$best_replay" -v d="$best_daemon" -v t="$tuples" -v m="$messages" -v b="$bytes" -v j="$best_join" \
    -v rss="$best_rss" 'BEGIN {
  printf "raw kcat:  %.2f s  %6.1f MB/s  %5.2f M tuples/s  %7.0f messages/s\n", raw, b / raw / 1e6, t / raw / 1e6, m / raw;
  printf "replay:    %.2f s  %6.1f MB/s  %5.2f M tuples/s  %7.0f messages/s  (the pipeline alone, from files)\n",
         replay, b / replay / 1e6, t / replay / 1e6, m / replay;
  printf "daemon:    %.2f s  %6.1f MB/s  %5.2f M tuples/s  %7.0f messages/s  (+%.1f s group join; peak RSS %d MB)\n",
         d, b / d / 1e6, t / d / 1e6, m / d, j, rss / 1024;
  printf "ratio: daemon / raw kcat = %.0f%% (target >= 70%%); daemon / replay = %.0f%%\n", 100 * raw / d, 100 * replay / d }'

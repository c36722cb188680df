# Sourced by the throughput benchmarks of `flowwatch run` against `flowwatch
# replay` (folder_throughput.sh, blob_throughput.sh, blob_events_throughput.sh).
#
#   run_vs_replay FW WORK DIR ROUNDS REPLAY_CFG RUN_CFG LABEL
#
# Alternating, ROUNDS each: replay of DIR with REPLAY_CFG, timed; then `run`
# with RUN_CFG (its state under WORK/state, removed first), timed from its
# start (startup and the first listing included) until /metrics (polled every
# 50 ms) counts every tuple replay applied; peak RSS from /proc. Prints a
# Markdown table; exits 1 if the daemon falls short. The caller's EXIT trap
# should kill "$pid" (the daemon running, if any). In RUN_CFG, @ROUND@ is
# replaced by the round's number (a consumer group of its own).

run_vs_replay() {
  local fw="$1" work="$2" dir="$3" rounds="$4" replay_cfg="$5" run_cfg="$6" label="$7"
  local now='date +%s.%N' t0 replay_s tuples api applied run_s rss round
  printf '| round | replay s | run (%s) s | run / replay rate | run peak RSS |\n|---|---|---|---|---|\n' "$label"
  for round in $(seq 1 "$rounds"); do
    t0=$($now)
    "$fw" replay -q --config "$replay_cfg" --summary "$work/replay.json" "$dir" > /dev/null
    replay_s=$(echo "$($now) - $t0" | bc)
    tuples=$(sed -n 's/.*"tuples":\([0-9]*\).*/\1/p' "$work/replay.json")
    rm -rf "$work/state"
    t0=$($now)
    sed "s/@ROUND@/$round/g" "$run_cfg" > "$work/run-round.yaml"
    "$fw" run --config "$work/run-round.yaml" > "$work/run.log" 2>&1 & pid=$!
    for _ in $(seq 1 500); do [ -s "$work/state/summary.json" ] && break; sleep 0.02; done
    api=$(sed -n 's/.*"http_listen":"\([^"]*\)".*/\1/p' "$work/state/summary.json")
    applied=0
    for _ in $(seq 1 12000); do  # at most 10 minutes
      applied=$(curl -s "http://$api/metrics" | awk '$1=="flowwatch_shard_tuples_applied_total"{s+=$2} END{printf "%d", s}')
      [ "$applied" = "$tuples" ] && break
      sleep 0.05
    done
    run_s=$(echo "$($now) - $t0" | bc)
    rss=$(awk '/VmHWM/{printf "%.0f MB", $2/1024}' "/proc/$pid/status")
    kill -TERM "$pid"; wait "$pid" || true; pid=""
    [ "$applied" = "$tuples" ] || { echo "the daemon applied $applied of $tuples tuples" >&2; tail -5 "$work/run.log" >&2; exit 1; }
    printf '| %d | %.2f | %.2f | %.0f%% | %s |\n' "$round" "$replay_s" "$run_s" "$(echo "100 * $replay_s / $run_s" | bc -l)" "$rss"
  done
}

# Azurite on a free port of 127.0.0.1, its data under WORK/azurite, with the
# blobs of DIR uploaded whole into container `flowlogs` (write_blobs.mjs,
# STEP 0; with EVENTS_FILE, one BlobCreated event a blob written there). Sets
# $azurite (its pid: the caller's EXIT trap kills it), $cs (its connection
# string) and $blobs.
#
#   start_azurite NODE_DIR WORK DIR [EVENTS_FILE]
start_azurite() {
  local node_dir="$1" work="$2" dir="$3" events="${4:-}" port key t0
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$work/azurite"
  "$node_dir/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" --location "$work/azurite" \
    --loose --skipApiVersionCheck --silent > "$work/azurite.log" 2>&1 & azurite=$!
  key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
  cs="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$port/devstoreaccount1;"
  for _ in $(seq 1 100); do curl -s "http://127.0.0.1:$port/" > /dev/null && break; sleep 0.1; done
  t0=$(date +%s.%N)
  blobs=$(node "$node_dir/write_blobs.mjs" "$cs" flowlogs "$dir" 0 1000000000 0 $events)
  echo "uploaded $blobs blobs in $(printf '%.0f' "$(echo "$(date +%s.%N) - $t0" | bc)") s"
}

# The configuration both sides share (state and alerts under WORK, 1 decoder,
# 1 shard, DIR's inventory if it has one), as YAML lines.
#
#   bench_common_config WORK DIR
bench_common_config() {
  local work="$1" dir="$2"
  printf 'state: {dir: "%s/state", checkpoint_interval: 30s}\nalerts: {file: "%s/alerts.jsonl"}\n' "$work" "$work"
  printf 'http: {listen: "127.0.0.1:0"}\npipeline: {decoders: 1, shards: 1}\n'
  [ -f "$dir/inventory.csv" ] && printf 'inventory: {file: "%s/inventory.csv"}\n' "$dir"
  return 0
}

# Sourced by the throughput benchmarks of `flowwatch run` against `flowwatch
# replay` (folder_throughput.sh, blob_throughput.sh): one function.
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

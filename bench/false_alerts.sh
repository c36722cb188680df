#!/usr/bin/env bash
# False-alert rate of the default detection settings on steady traffic (diurnal
# cycles of +-50%, per-minute noise), which has no anomaly in it: every alert is
# a false one. Target: at most about one per 1,000 keys per day.
#
#   bench/false_alerts.sh [VMS] [PORTS_PER_VM] [HOURS]     (default 400 5 168: ~2,900 keys, 7 days, ~4 GB)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
fw="${FW:-$root/build/release/daemon/flowwatch}"
vms="${1:-400}" ports="${2:-5}" hours="${3:-168}"
dir="${DIR:-$root/build/bench-data/false-alerts-$vms-$ports-$hours}"
[ -x "$fw" ] || { echo "build flowwatch first (e.g. ./scripts/demo.sh builds $fw)" >&2; exit 2; }
if [ ! -f "$dir/.complete" ]; then
  rm -rf "$dir"
  "$fw" gen --scenario steady --vms "$vms" --ports-per-vm "$ports" --hours "$hours" --out "$dir"
  touch "$dir/.complete"
fi
summary="$(mktemp)"
alerts="$(mktemp)"
"$fw" replay -q --summary "$summary" --alerts "$alerts" "$dir"
keys=$(sed 's/.*"keys":\([0-9]*\).*/\1/' "$summary")
tuples=$(sed 's/.*"tuples":\([0-9]*\).*/\1/' "$summary")
seconds=$(sed 's/.*"seconds":\([0-9.]*\).*/\1/' "$summary")
firing=$(grep -c '"status":"firing"' "$alerts" || true)
awk -v k="$keys" -v h="$hours" -v f="$firing" -v t="$tuples" -v s="$seconds" 'BEGIN {
  days = h / 24; rate = f * 1000 / (k * days);
  printf "false alerts: %d over %d keys x %.1f days (%.0f key-days, %.1f M tuples replayed in %.1f s)\n", f, k, days, k * days, t / 1e6, s;
  printf "rate: %.3f per 1,000 keys per day (target <= 1)\n", rate }'
rm -f "$summary" "$alerts"

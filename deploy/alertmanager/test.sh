#!/usr/bin/env bash
# Checks alertmanager.yaml with amtool: it loads, and each flowwatch alert
# reaches the receiver it should: critical deviations (pushed by flowwatch or
# from the deviation rules) page the network security team, critical health
# alerts of deploy/prometheus/rules.yaml page the platform team, warnings go to
# chat, and other alerts stay on the default route. Exits 77 without amtool.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
config="$here/alertmanager.yaml"
rules="$here/../prometheus/rules.yaml"
command -v amtool >/dev/null || { echo "amtool not found (Debian package prometheus-alertmanager)" >&2; exit 77; }

amtool check-config "$config"
failures=0
expect() {  # expect RECEIVER LABEL=VALUE...
  local want="$1"
  shift
  local got
  got="$(amtool config routes test --config.file="$config" "$@" 2>/dev/null)"
  if [ "$got" = "$want" ]; then
    echo "  $* -> $got"
  else
    echo "FAILED: $* -> '$got', wanted '$want'" >&2
    failures=$((failures + 1))
  fi
}
echo "== routes"
expect pagerduty-netsec alertname=FlowwatchDeviation severity=critical detector=volume vm=vm01 protocol=tcp port=1433 direction=outbound
expect chat alertname=FlowwatchDeviation severity=warning detector=volume vm=vm03 protocol=tcp port=1433 direction=inbound
expect pagerduty-netsec alertname=FlowwatchAlertStorm severity=critical detector=alert_storm
expect default alertname=KubePodCrashLooping severity=warning
# Every alert of the rules, by its severity.
while read -r alert severity; do
  case "$alert/$severity" in
    FlowwatchTrafficDeviation/critical) want=pagerduty-netsec ;;
    FlowwatchTrafficDeviation/*) want=chat ;;
    */critical) want=pagerduty-platform ;;
    *) want=chat ;;
  esac
  expect "$want" alertname="$alert" severity="$severity" job=flowwatch
done < <(awk '/- alert:/ { a = $3 } /severity:/ { if (a != "") { print a, $2; a = "" } }' "$rules")
[ "$failures" -eq 0 ] || { echo "deploy/alertmanager/test.sh: $failures route(s) wrong" >&2; exit 1; }
echo "deploy/alertmanager/test.sh: OK"

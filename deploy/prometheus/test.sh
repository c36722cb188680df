#!/usr/bin/env bash
# Checks deploy/prometheus/rules.yaml and runs its unit tests (rules_test.yaml).
# Runnable from any directory. Exit status: 0 all good, 1 a check or test
# failed, 77 promtool is not installed (the "skipped" code of ctest/automake).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
promtool="${PROMTOOL:-promtool}"

if ! command -v "$promtool" >/dev/null 2>&1; then
  echo "test.sh: promtool not found (Debian: apt-get install prometheus; or set PROMTOOL=/path/to/promtool); skipped" >&2
  exit 77
fi

cd "$here"
echo "== $("$promtool" --version 2>&1 | head -n 1)"
echo "== promtool check rules $here/rules.yaml"
"$promtool" check rules rules.yaml
echo "== promtool test rules $here/rules_test.yaml"
"$promtool" test rules rules_test.yaml

alerts="$(grep -Eo '^ *- alert: [A-Za-z]+' rules.yaml | awk '{print $3}' | sort -u)"
tested="$(grep -Eo 'alertname: [A-Za-z]+' rules_test.yaml | awk '{print $2}' | sort -u)"
untested="$(comm -23 <(echo "$alerts") <(echo "$tested"))"
if [[ -n "$untested" ]]; then
  echo "test.sh: alerts without a test in rules_test.yaml: $untested" >&2
  exit 1
fi
echo "== every alert has tests: $(echo "$alerts" | tr '\n' ' ')"
echo "OK"

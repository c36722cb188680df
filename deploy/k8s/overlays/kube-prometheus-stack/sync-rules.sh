#!/usr/bin/env bash
# Regenerates prometheusrule.yaml from the flowwatch-health group of
# deploy/prometheus/rules.yaml. Run it after every change of rules.yaml
# (deploy/k8s/test.sh fails until you do).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
k8s="$(cd "$here/../.." && pwd)"
rules="$(cd "$k8s/.." && pwd)/prometheus/rules.yaml"
if ! command -v node >/dev/null 2>&1; then
  echo "sync-rules.sh: node is required (apt-get install nodejs npm)" >&2
  exit 1
fi
if [[ ! -d "$k8s/validate/node_modules" ]]; then
  npm ci --prefix "$k8s/validate" --no-audit --no-fund >&2
fi
node "$k8s/validate/sync-rules.mjs" "$rules" flowwatch-health "$here/prometheusrule.yaml"

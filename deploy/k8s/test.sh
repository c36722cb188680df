#!/usr/bin/env bash
# Renders deploy/k8s/base and every overlay with `kubectl kustomize` and
# validates each rendered object (validate/validate.mjs: Kubernetes and CRD
# schemas, plus flowwatch's own rules). With a flowwatch binary, also runs
# `flowwatch check-config` on every rendered flowwatch.yaml and loads every
# rendered inventory.
#
#   deploy/k8s/test.sh [FLOWWATCH_BIN]       (or FLOWWATCH_BIN=... deploy/k8s/test.sh)
#
# Exit 0: all passed; 1: a failure; 77: kubectl or node missing (skip, as ctest's SKIP_RETURN_CODE).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${1:-${FLOWWATCH_BIN:-}}"

if ! command -v kubectl >/dev/null 2>&1; then
  echo "deploy/k8s/test.sh: SKIP: kubectl not found (it needs kubectl >= 1.27 with built-in kustomize; see shared TOOLCHAIN.md)" >&2
  exit 77
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "deploy/k8s/test.sh: SKIP: node and npm not found (apt-get install nodejs npm)" >&2
  exit 77
fi
if [[ -n "$bin" && ! -x "$bin" ]]; then
  echo "deploy/k8s/test.sh: $bin is not an executable flowwatch binary" >&2
  exit 1
fi
# Installing is set-up, not the test (tests reach nothing beyond 127.0.0.1):
# scripts/test.sh does it before ctest.
if [[ ! -d "$here/validate/node_modules" ]]; then
  echo "deploy/k8s/test.sh: the validator's packages are missing; install them with" >&2
  echo "  npm ci --prefix deploy/k8s/validate --no-audit --no-fund" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
validate=(node "$here/validate/validate.mjs" --example "$repo/config/flowwatch.example.yaml")
failed=0
fail() {
  echo "FAIL: $*" >&2
  failed=$((failed + 1))
}

# 1. The validator must be able to fail.
if ! "${validate[@]}" --self-test >"$tmp/self-test.log" 2>&1; then
  cat "$tmp/self-test.log" >&2
  fail "validate.mjs --self-test"
else
  echo "self-test: $(grep -c 'rejected as intended' "$tmp/self-test.log") broken objects and configs rejected as intended"
fi
# ... and through the same command line as the real renders: a broken StatefulSet.
broken='apiVersion: apps/v1
kind: StatefulSet
metadata: {name: broken-on-purpose}
spec:
  replicas: "one"
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers: [{image: flowwatch}]'
if printf '%s\n' "$broken" | "${validate[@]}" --name broken >"$tmp/broken.log" 2>&1; then
  cat "$tmp/broken.log" >&2
  fail "a broken StatefulSet was accepted"
elif ! grep -q 'StatefulSet/broken-on-purpose: schema: /spec/replicas: must be integer' "$tmp/broken.log" ||
  ! grep -q 'StatefulSet/broken-on-purpose: schema: /spec/template/spec/containers/0: must have required property name' "$tmp/broken.log"; then
  cat "$tmp/broken.log" >&2
  fail "a broken StatefulSet was rejected, but not for its schema errors"
else
  echo "broken StatefulSet: rejected as intended ($(grep -c ERROR "$tmp/broken.log") errors)"
fi

# 2. Render and validate base and each overlay.
check_binary() { # name dir-with-extracted-files
  local name="$1" dir="$2"
  [[ -n "$bin" ]] || return 0
  if ! EVENTHUB_CONNECTION_STRING='Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=x;SharedAccessKey=y;EntityPath=flowlogs' \
    PD_ROUTING_KEY='dummy' POD_NAME='flowwatch-0' "$bin" check-config "$dir/flowwatch.yaml" >"$dir/check-config.log" 2>&1; then
    cat "$dir/check-config.log" >&2
    fail "$name: flowwatch check-config rejects the rendered flowwatch.yaml"
    return 0
  fi
  # check-config does not load the inventory; `ports` does (and fails on a bad one).
  mkdir -p "$dir/no-flows" && : >"$dir/no-flows/empty.ndjson"
  if ! "$bin" ports --inventory "$dir/inventory.csv" "$dir/no-flows" >/dev/null 2>"$dir/inventory.log"; then
    cat "$dir/inventory.log" >&2
    fail "$name: flowwatch cannot load the rendered inventory.csv"
    return 0
  fi
  echo "$name: flowwatch check-config OK, inventory loads ($bin)"
}

render() { # name dir validate-options...
  local name="$1" dir="$2"
  shift 2
  local out="$tmp/$name"
  mkdir -p "$out"
  if ! kubectl kustomize "$dir" >"$out/rendered.yaml" 2>"$out/kustomize.log"; then
    cat "$out/kustomize.log" >&2
    fail "$name: kubectl kustomize $dir"
    return 0
  fi
  if ! "${validate[@]}" --name "$name" --extract "$out/config" "$@" "$out/rendered.yaml"; then
    fail "$name: validation"
    return 0
  fi
  check_binary "$name" "$out/config"
}

render base "$here/base" \
  --expect-kinds Namespace,ServiceAccount,ConfigMap,Service,StatefulSet,PodDisruptionBudget
render workload-identity "$here/overlays/workload-identity" \
  --expect-kinds StatefulSet,ConfigMap,ServiceAccount
# The overlay must really sign in with Entra ID (the validator checks the pod for it).
wi="$tmp/workload-identity/config/flowwatch.yaml"
if [[ -f "$wi" ]] && ! grep -q 'event_hubs_namespace:' "$wi"; then
  fail "workload-identity: flowwatch.yaml has no source.kafka.event_hubs_namespace"
fi
render blob-workload-identity "$here/overlays/blob-workload-identity" \
  --expect-kinds StatefulSet,ConfigMap,ServiceAccount
# The overlay must really read Blob Storage with Entra ID.
bwi="$tmp/blob-workload-identity/config/flowwatch.yaml"
if [[ -f "$bwi" ]] && ! grep -q 'account_url:' "$bwi"; then
  fail "blob-workload-identity: flowwatch.yaml has no source.blob.account_url"
fi
render keyvault-sas "$here/overlays/keyvault-sas" \
  --expect-kinds StatefulSet,ConfigMap,SecretProviderClass \
  --config-like "$here/base/flowwatch.yaml"
rules="$repo/deploy/prometheus/rules.yaml"
if [[ -f "$rules" ]]; then
  render kube-prometheus-stack "$here/overlays/kube-prometheus-stack" \
    --expect-kinds StatefulSet,ConfigMap,ServiceMonitor,PrometheusRule \
    --config-like "$here/base/flowwatch.yaml" \
    --rules "$rules" --rules-group flowwatch-health
else
  fail "kube-prometheus-stack: $rules is missing (the PrometheusRule is generated from it)"
fi
# The overlay must really add the Alertmanager webhook (--config-like ignores alerts.webhooks).
kps="$tmp/kube-prometheus-stack/config/flowwatch.yaml"
if [[ -f "$kps" ]] && ! grep -q 'alertmanager-operated.monitoring.svc:9093/api/v2/alerts' "$kps"; then
  fail "kube-prometheus-stack: flowwatch.yaml has no Alertmanager webhook"
fi

if ((failed)); then
  echo "deploy/k8s/test.sh: $failed failure(s)" >&2
  exit 1
fi
if [[ -n "$bin" ]]; then
  echo "deploy/k8s/test.sh: all passed (check-config with $bin)"
else
  echo "deploy/k8s/test.sh: all passed (no flowwatch binary given: check-config skipped)"
fi

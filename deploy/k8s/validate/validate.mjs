#!/usr/bin/env node
// Validates rendered flowwatch manifests (the output of `kubectl kustomize DIR`).
//
//   node validate.mjs [options] [FILE|-]      multi-document YAML (stdin when - or absent)
//   node validate.mjs --self-test              proves that broken objects are rejected
//
// Options:
//   --name NAME             label for the summary line (default: the file name)
//   --example FILE          config/flowwatch.example.yaml (default: found from this script)
//   --expect-kinds K,K,...  these kinds must all be rendered
//   --extract DIR           write the ConfigMap's flowwatch.yaml (inventory.file pointed at
//                           DIR/inventory.csv) and inventory.csv there, for `flowwatch check-config`
//   --config-like FILE      the rendered flowwatch.yaml must equal FILE's (parsed) except alerts.webhooks
//   --rules FILE --rules-group NAME
//                           the PrometheusRule's spec.groups must equal [FILE's group NAME] (parsed)
//
// Every object is checked against its schema: kubernetes-models (Kubernetes 1.3x
// OpenAPI) for core kinds, @kubernetes-models/prometheus-operator for the
// Prometheus Operator's, schemas/secretproviderclass-v1.schema.json for the
// Secrets Store CSI driver's. A kind missing from VALIDATORS is an error. Then
// flowwatch's own rules (security context, probes, one replica, references
// between the objects, the config's keys). Exit 0 when all is well, 1 otherwise.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import YAML from "yaml";
import Ajv from "ajv";

import { Namespace } from "kubernetes-models/v1/Namespace";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DEFAULT_EXAMPLE = path.resolve(HERE, "../../../config/flowwatch.example.yaml");
const HTTP_PORT = 9464;
const STATE_DIR = "/var/lib/flowwatch";

// ---------------------------------------------------------------- schemas

const ajv = new Ajv({ allErrors: true, strict: true });
const secretProviderClassSchema = JSON.parse(
  fs.readFileSync(path.join(HERE, "schemas/secretproviderclass-v1.schema.json"), "utf8"),
);
const validateSecretProviderClass = ajv.compile(secretProviderClassSchema);

function formatAjvErrors(errors) {
  return (errors || []).map((e) => {
    const where = e.instancePath || "/";
    if (e.keyword === "additionalProperties") return `${where}: unknown field "${e.params.additionalProperty}"`;
    return `${where}: ${e.message}`;
  });
}

function modelValidator(Model) {
  return (obj) => {
    try {
      new Model(obj).validate();
      return [];
    } catch (e) {
      return e.errors ? formatAjvErrors(e.errors) : [String(e.message || e)];
    }
  };
}

// apiVersion/kind -> (object) => [schema errors]. Anything else is an error.
export const VALIDATORS = {
  "v1/Namespace": modelValidator(Namespace),
  "v1/ServiceAccount": modelValidator(ServiceAccount),
  "v1/ConfigMap": modelValidator(ConfigMap),
  "v1/Secret": modelValidator(Secret),
  "v1/Service": modelValidator(Service),
  "apps/v1/StatefulSet": modelValidator(StatefulSet),
  "policy/v1/PodDisruptionBudget": modelValidator(PodDisruptionBudget),
  "monitoring.coreos.com/v1/ServiceMonitor": modelValidator(ServiceMonitor),
  "monitoring.coreos.com/v1/PrometheusRule": modelValidator(PrometheusRule),
  "secrets-store.csi.x-k8s.io/v1/SecretProviderClass": (obj) =>
    validateSecretProviderClass(obj) ? [] : formatAjvErrors(validateSecretProviderClass.errors),
};

// ---------------------------------------------------------------- helpers

const isMap = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const idOf = (o) => `${o?.kind ?? "?"}/${o?.metadata?.name ?? "?"}`;

function labelsMatch(selector, labels) {
  if (!isMap(selector) || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

// Keys of the example config, and where free-form maps are allowed.
// alerts.webhooks is `[]` in the example; its item keys are in the comment block
// under it ("#   - url: ...", "#   format: ..."): read them from there.
function loadExample(file) {
  const text = fs.readFileSync(file, "utf8");
  const example = YAML.parse(text);
  const webhookKeys = new Set();
  const lines = text.split("\n");
  const at = lines.findIndex((l) => /^\s+webhooks:/.test(l));
  for (let i = at; at >= 0 && i < lines.length; i++) {
    if (i > at && !/^\s*#/.test(lines[i])) break; // the comment block ends at the next key
    const m = /#\s*(?:-\s+)?([a-z_]+):/.exec(lines[i]);
    if (m) webhookKeys.add(m[1]);
  }
  // source.blob is ~ in the example, its keys in the comment block above it.
  const blobKeys = new Set();
  const from = lines.findIndex((l) => /Set blob: to a map of these keys/.test(l));
  for (let i = from + 1; from >= 0 && i < lines.length && !/^\s+blob:/.test(lines[i]); i++) {
    const m = /^\s*#\s+([a-z_]+):/.exec(lines[i]);
    if (m) blobKeys.add(m[1]);
  }
  return { example, webhookKeys, blobKeys };
}

const FREE_FORM = new Set(["source.kafka.librdkafka", "alerts.webhooks[].headers"]);

function checkConfigKeys(cfg, ex, webhookKeys, where, errors, blobKeys = new Set()) {
  if (!isMap(cfg)) {
    errors.push(`${where || "(root)"}: expected a mapping`);
    return;
  }
  for (const [k, v] of Object.entries(cfg)) {
    const key = where ? `${where}.${k}` : k;
    if (!isMap(ex) || !(k in ex)) {
      errors.push(`${key}: not a key of config/flowwatch.example.yaml`);
      continue;
    }
    if (FREE_FORM.has(key)) continue;
    if (key === "source.blob") {
      if (v === null) continue;
      if (!isMap(v)) errors.push(`${key}: expected a mapping`);
      else for (const b of Object.keys(v)) if (!blobKeys.has(b)) errors.push(`${key}.${b}: not a source.blob key`);
      continue;
    }
    if (key === "alerts.webhooks") {
      if (v === null) continue;
      if (!Array.isArray(v)) {
        errors.push(`${key}: expected a list`);
        continue;
      }
      v.forEach((item, i) => {
        if (!isMap(item)) return errors.push(`${key}[${i}]: expected a mapping`);
        for (const ik of Object.keys(item)) {
          if (!webhookKeys.has(ik)) errors.push(`${key}[${i}].${ik}: not a webhook key of config/flowwatch.example.yaml`);
        }
      });
      continue;
    }
    if (isMap(ex[k])) checkConfigKeys(v, ex[k], webhookKeys, key, errors, blobKeys);
  }
}

function httpGetTarget(probe, container) {
  const g = probe?.httpGet;
  if (!g) return null;
  let port = g.port;
  if (typeof port === "string") {
    const named = (container.ports || []).find((p) => p.name === port);
    port = named ? named.containerPort : port;
  }
  return { path: g.path, port };
}

// ---------------------------------------------------------------- flowwatch's rules

function checkWorkload(sts, objects, errors) {
  const id = idOf(sts);
  const spec = sts.spec || {};
  const pod = spec.template?.spec || {};
  const podLabels = spec.template?.metadata?.labels || {};
  if (spec.replicas !== 1) errors.push(`${id}: replicas must be 1 (state belongs to one process), got ${spec.replicas}`);
  if (!labelsMatch(spec.selector?.matchLabels, podLabels)) errors.push(`${id}: selector does not match the pod labels`);
  if (!(pod.terminationGracePeriodSeconds >= 30)) {
    errors.push(`${id}: terminationGracePeriodSeconds must be >= 30 (drain + final checkpoint), got ${pod.terminationGracePeriodSeconds}`);
  }
  const psc = pod.securityContext || {};
  const containers = [...(pod.initContainers || []), ...(pod.containers || [])];
  if (containers.length === 0) errors.push(`${id}: no containers`);
  for (const c of containers) {
    const cid = `${id} container ${c.name}`;
    const sc = c.securityContext || {};
    if (sc.readOnlyRootFilesystem !== true) errors.push(`${cid}: securityContext.readOnlyRootFilesystem must be true`);
    if ((sc.runAsNonRoot ?? psc.runAsNonRoot) !== true) errors.push(`${cid}: runAsNonRoot must be true`);
    if ((sc.runAsUser ?? psc.runAsUser) === 0) errors.push(`${cid}: runAsUser must not be 0`);
    if (sc.allowPrivilegeEscalation !== false) errors.push(`${cid}: allowPrivilegeEscalation must be false`);
    if (!(sc.capabilities?.drop || []).includes("ALL")) errors.push(`${cid}: capabilities.drop must include ALL`);
    if ((sc.seccompProfile?.type ?? psc.seccompProfile?.type) !== "RuntimeDefault") {
      errors.push(`${cid}: seccompProfile must be RuntimeDefault`);
    }
  }
  const main = (pod.containers || []).find((c) => c.name === "flowwatch");
  if (!main) {
    errors.push(`${id}: no container named flowwatch`);
    return;
  }
  const cid = `${id} container flowwatch`;
  for (const [kind, want] of [["livenessProbe", "/healthz"], ["readinessProbe", "/readyz"], ["startupProbe", "/healthz"]]) {
    const t = httpGetTarget(main[kind], main);
    if (!t) errors.push(`${cid}: ${kind} must be an httpGet probe`);
    else if (t.path !== want || t.port !== HTTP_PORT) {
      errors.push(`${cid}: ${kind} must GET ${want} on port ${HTTP_PORT} (or its named port), got ${t.path} on ${t.port}`);
    }
  }
  if (!isDeepStrictEqual(main.args, ["run", "--config", "/etc/flowwatch/flowwatch.yaml"])) {
    errors.push(`${cid}: args must be run --config /etc/flowwatch/flowwatch.yaml, got ${JSON.stringify(main.args)}`);
  }
  if (main.resources?.limits?.cpu !== undefined) errors.push(`${cid}: no CPU limit (throttling stalls the consumer loop)`);
  if (!main.resources?.requests?.cpu || !main.resources?.limits?.memory) errors.push(`${cid}: needs a CPU request and a memory limit`);

  // Volumes: config from a rendered ConfigMap, state from a volumeClaimTemplate.
  const mounts = Object.fromEntries((main.volumeMounts || []).map((m) => [m.mountPath, m]));
  const volumes = Object.fromEntries((pod.volumes || []).map((v) => [v.name, v]));
  const claims = new Set((spec.volumeClaimTemplates || []).map((t) => t.metadata?.name));
  const stateMount = mounts[STATE_DIR];
  if (!stateMount || !claims.has(stateMount.name) || volumes[stateMount.name]) {
    errors.push(`${cid}: ${STATE_DIR} must be mounted from a volumeClaimTemplate`);
  }
  for (const t of spec.volumeClaimTemplates || []) {
    if (!(t.spec?.accessModes || []).includes("ReadWriteOnce")) errors.push(`${id}: claim ${t.metadata?.name} must be ReadWriteOnce`);
  }
  if (!mounts["/tmp"] || !volumes[mounts["/tmp"].name]?.emptyDir) errors.push(`${cid}: /tmp must be an emptyDir`);
  const cfgMount = mounts["/etc/flowwatch"];
  const cfgVolume = cfgMount && volumes[cfgMount.name];
  const cmName = cfgVolume?.configMap?.name;
  const cm = objects.find((o) => o.kind === "ConfigMap" && o.metadata?.name === cmName);
  if (!cm) errors.push(`${cid}: /etc/flowwatch must be mounted from a rendered ConfigMap (got ${cmName})`);

  // How it signs in to Event Hubs or Storage decides what the pod needs: the
  // connection string from a Secret, or workload identity (Entra ID) and no secret.
  let kafka = {};
  let blob = null;
  try {
    const source = YAML.parse(cm?.data?.["flowwatch.yaml"] ?? "")?.source ?? {};
    kafka = source.kafka ?? {};
    blob = isMap(source.blob) ? source.blob : null;
  } catch {
    // checkConfigMap reports an unparsable flowwatch.yaml
  }
  const env = Object.fromEntries((main.env || []).map((e) => [e.name, e]));
  const sa = objects.find((o) => o.kind === "ServiceAccount" && o.metadata?.name === pod.serviceAccountName);
  if (blob) {
    if (blob.account_url) {
      if (podLabels["azure.workload.identity/use"] !== "true") {
        errors.push(`${id}: with source.blob.account_url (Entra ID) the pod needs the label azure.workload.identity/use: "true"`);
      }
      if (!sa?.metadata?.annotations?.["azure.workload.identity/client-id"]) {
        errors.push(`${id}: with source.blob.account_url (Entra ID) the ServiceAccount needs the annotation azure.workload.identity/client-id`);
      }
    } else if (!env.AZURE_STORAGE_CONNECTION_STRING?.valueFrom?.secretKeyRef) {
      errors.push(`${cid}: with source.blob.connection_string, AZURE_STORAGE_CONNECTION_STRING must come from a Secret`);
    }
    if (env.EVENTHUB_CONNECTION_STRING) errors.push(`${cid}: with source.blob there is no EVENTHUB_CONNECTION_STRING`);
  } else if (kafka.event_hubs_namespace) {
    if (podLabels["azure.workload.identity/use"] !== "true") {
      errors.push(`${id}: with event_hubs_namespace (Entra ID) the pod needs the label azure.workload.identity/use: "true"`);
    }
    if (!sa?.metadata?.annotations?.["azure.workload.identity/client-id"]) {
      errors.push(`${id}: with event_hubs_namespace (Entra ID) the ServiceAccount needs the annotation azure.workload.identity/client-id`);
    }
    if (env.EVENTHUB_CONNECTION_STRING) errors.push(`${cid}: with event_hubs_namespace (Entra ID) there is no EVENTHUB_CONNECTION_STRING`);
  } else {
    const cs = env.EVENTHUB_CONNECTION_STRING?.valueFrom?.secretKeyRef;
    if (!cs || cs.name !== "flowwatch-eventhubs" || cs.key !== "connection-string" || cs.optional) {
      errors.push(`${cid}: EVENTHUB_CONNECTION_STRING must come from Secret flowwatch-eventhubs key connection-string (not optional)`);
    }
  }
  // Static membership: one member id per pod, never one shared by two pods.
  if (kafka.group_instance_id !== undefined && kafka.group_instance_id !== "") {
    if (kafka.group_instance_id !== "${POD_NAME}") {
      errors.push(`${id}: flowwatch.yaml: source.kafka.group_instance_id must be "\${POD_NAME}" (one per pod), got ${kafka.group_instance_id}`);
    } else if (env.POD_NAME?.valueFrom?.fieldRef?.fieldPath !== "metadata.name") {
      errors.push(`${cid}: POD_NAME must come from the field metadata.name (group_instance_id reads it)`);
    }
  }

  for (const [name, v] of Object.entries(volumes)) {
    const spcName = v.csi?.volumeAttributes?.secretProviderClass;
    if (v.csi && !objects.some((o) => o.kind === "SecretProviderClass" && o.metadata?.name === spcName)) {
      errors.push(`${id}: CSI volume ${name} names SecretProviderClass ${spcName}, which is not rendered`);
    }
  }
  if (!sa) errors.push(`${id}: serviceAccountName ${pod.serviceAccountName} is not rendered`);
  const svc = objects.find((o) => o.kind === "Service" && o.metadata?.name === spec.serviceName);
  if (!svc) errors.push(`${id}: serviceName ${spec.serviceName} is not a rendered Service`);
}

function checkReferences(objects, errors) {
  const sts = objects.filter((o) => o.kind === "StatefulSet");
  const podLabels = sts[0]?.spec?.template?.metadata?.labels || {};
  for (const o of objects) {
    const id = idOf(o);
    if (o.kind === "Service") {
      if (!labelsMatch(o.spec?.selector, podLabels)) errors.push(`${id}: selector matches no pod`);
      const http = (o.spec?.ports || []).find((p) => p.name === "http");
      if (!http || http.port !== HTTP_PORT) errors.push(`${id}: needs port "http" ${HTTP_PORT}`);
    }
    if (o.kind === "PodDisruptionBudget" && !labelsMatch(o.spec?.selector?.matchLabels, podLabels)) {
      errors.push(`${id}: selector matches no pod`);
    }
    if (o.kind === "ServiceMonitor") {
      const svc = objects.find((s) => s.kind === "Service" && labelsMatch(o.spec?.selector?.matchLabels, s.metadata?.labels));
      if (!svc) errors.push(`${id}: selector matches no rendered Service`);
      for (const ep of o.spec?.endpoints || []) {
        if (svc && !(svc.spec?.ports || []).some((p) => p.name === ep.port)) errors.push(`${id}: endpoint port ${ep.port} is not a port of ${idOf(svc)}`);
      }
    }
    if ((o.kind === "ServiceMonitor" || o.kind === "PrometheusRule") && !o.metadata?.labels?.release) {
      errors.push(`${id}: needs the label "release" that kube-prometheus-stack's Prometheus selects on`);
    }
    if (o.kind === "ServiceAccount" && o.automountServiceAccountToken !== false) {
      errors.push(`${id}: automountServiceAccountToken must be false`);
    }
    if (o.kind === "SecretProviderClass") {
      const synced = (o.spec?.secretObjects || []).find((s) => s.secretName === "flowwatch-eventhubs");
      if (!synced || !(synced.data || []).some((d) => d.key === "connection-string")) {
        errors.push(`${id}: must sync Secret flowwatch-eventhubs with key connection-string (secretObjects)`);
      }
      const clientId = o.spec?.parameters?.clientID;
      const sa = objects.find((s) => s.kind === "ServiceAccount");
      if (!clientId || sa?.metadata?.annotations?.["azure.workload.identity/client-id"] !== clientId) {
        errors.push(`${id}: parameters.clientID must equal the ServiceAccount's azure.workload.identity/client-id`);
      }
      const podUses = podLabels["azure.workload.identity/use"] === "true";
      if (!podUses) errors.push(`${id}: the pod needs the label azure.workload.identity/use: "true"`);
      if (sts.length && !(sts[0].spec?.template?.spec?.volumes || []).some((v) => v.csi?.volumeAttributes?.secretProviderClass === o.metadata?.name)) {
        errors.push(`${id}: no pod mounts it, so the Secret is never synced`);
      }
    }
  }
}

// source.blob in AKS: one way to sign in, never a literal secret, and not
// beside source.kafka unless that follows the blobs' Event Grid events.
function checkBlobSource(cfg) {
  const blob = cfg.source.blob;
  const errors = [];
  if (isMap(cfg.source.kafka) && Object.keys(cfg.source.kafka).length && cfg.source.kafka.follow_blob_events !== true) {
    errors.push("source: blob and kafka are both set (set source.kafka.follow_blob_events: true to read the blobs its events name)");
  }
  if (!blob.account_url === !blob.connection_string) {
    errors.push("source.blob: set one of account_url (Entra ID) and connection_string");
  } else if (blob.account_url) {
    if (!String(blob.account_url).startsWith("https://")) errors.push(`source.blob.account_url must be https://, got ${blob.account_url}`);
    if (!["workload_identity", "auto", undefined].includes(cfg?.azure?.credential)) {
      errors.push(`azure.credential must be workload_identity (or auto) in AKS, got ${cfg.azure.credential}`);
    }
  } else if (blob.connection_string !== "${AZURE_STORAGE_CONNECTION_STRING}") {
    errors.push('source.blob.connection_string must be "${AZURE_STORAGE_CONNECTION_STRING}" (a Secret), never the string itself');
  }
  if (!Array.isArray(blob.containers) || blob.containers.length === 0) errors.push("source.blob.containers must list the flow-log containers");
  return errors;
}

function checkConfigMap(cm, objects, opts, errors) {
  const id = idOf(cm);
  const text = cm.data?.["flowwatch.yaml"];
  if (typeof text !== "string") return errors.push(`${id}: no flowwatch.yaml`);
  const doc = YAML.parseDocument(text);
  if (doc.errors.length) return errors.push(`${id}: flowwatch.yaml: ${doc.errors[0].message}`);
  const cfg = doc.toJS();
  const keyErrors = [];
  checkConfigKeys(cfg, opts.example.example, opts.example.webhookKeys, "", keyErrors, opts.example.blobKeys);
  for (const e of keyErrors) errors.push(`${id}: flowwatch.yaml: ${e}`);
  if (cfg?.state?.dir !== STATE_DIR) errors.push(`${id}: flowwatch.yaml: state.dir must be ${STATE_DIR} (the volume)`);
  if (!String(cfg?.http?.listen ?? "").endsWith(`:${HTTP_PORT}`)) errors.push(`${id}: flowwatch.yaml: http.listen must use port ${HTTP_PORT}`);
  const kafka = cfg?.source?.kafka ?? {};
  if (isMap(cfg?.source?.blob)) {
    for (const e of checkBlobSource(cfg)) errors.push(`${id}: flowwatch.yaml: ${e}`);
  } else if (kafka.event_hubs_namespace) {
    if (kafka.event_hubs_connection_string) {
      errors.push(`${id}: flowwatch.yaml: source.kafka: event_hubs_namespace and event_hubs_connection_string are both set`);
    }
    if (!["workload_identity", "auto", undefined].includes(cfg?.azure?.credential)) {
      errors.push(`${id}: flowwatch.yaml: azure.credential must be workload_identity (or auto) in AKS, got ${cfg.azure.credential}`);
    }
  } else if (kafka.event_hubs_connection_string !== "${EVENTHUB_CONNECTION_STRING}") {
    errors.push(`${id}: flowwatch.yaml: source.kafka.event_hubs_connection_string must be "\${EVENTHUB_CONNECTION_STRING}" (or set event_hubs_namespace for Entra ID)`);
  }
  for (const k of ["decoders", "shards"]) {
    if (!(cfg?.pipeline?.[k] > 0)) errors.push(`${id}: flowwatch.yaml: pipeline.${k} must be set (a container sees all of the node's cores)`);
  }
  const inv = cfg?.inventory?.file;
  if (inv) {
    const m = /^\/etc\/flowwatch\/(.+)$/.exec(inv);
    if (!m || typeof cm.data?.[m[1]] !== "string") errors.push(`${id}: inventory.file ${inv} is not a key of the ConfigMap`);
  }
  if (opts.configLike) {
    const ref = YAML.parse(fs.readFileSync(opts.configLike, "utf8"));
    const strip = (c) => {
      const copy = structuredClone(c);
      if (copy?.alerts) delete copy.alerts.webhooks;
      return copy;
    };
    if (!isDeepStrictEqual(strip(cfg), strip(ref))) {
      errors.push(`${id}: flowwatch.yaml differs from ${opts.configLike} in more than alerts.webhooks`);
    }
  }
  if (opts.extract) {
    fs.mkdirSync(opts.extract, { recursive: true });
    const invFile = path.join(opts.extract, "inventory.csv");
    if (inv) {
      const m = /^\/etc\/flowwatch\/(.+)$/.exec(inv);
      if (m && typeof cm.data?.[m[1]] === "string") fs.writeFileSync(invFile, cm.data[m[1]]);
      doc.setIn(["inventory", "file"], invFile);
    }
    fs.writeFileSync(path.join(opts.extract, "flowwatch.yaml"), doc.toString());
  }
}

function checkPrometheusRule(rule, opts, errors) {
  if (!opts.rules) return;
  const id = idOf(rule);
  const file = YAML.parse(fs.readFileSync(opts.rules, "utf8"));
  const group = (file?.groups || []).find((g) => g.name === opts.rulesGroup);
  if (!group) return errors.push(`${id}: ${opts.rules} has no group ${opts.rulesGroup}`);
  if (!isDeepStrictEqual(rule.spec?.groups, [group])) {
    const got = (rule.spec?.groups || []).map((g) => g.name).join(", ");
    const why = got === opts.rulesGroup ? "its content differs" : `got groups: ${got}`;
    errors.push(`${id}: spec.groups must be exactly the ${opts.rulesGroup} group of ${opts.rules} (${why}); run overlays/kube-prometheus-stack/sync-rules.sh`);
  }
}

// Validates parsed objects; returns { errors, kinds }.
export function validateObjects(objects, opts) {
  const errors = [];
  for (const o of objects) {
    if (!isMap(o)) {
      errors.push(`document is not a mapping: ${JSON.stringify(o)}`);
      continue;
    }
    const key = `${o.apiVersion}/${o.kind}`;
    const validator = VALIDATORS[key];
    if (!validator) {
      errors.push(`${idOf(o)}: unknown kind ${key} (no validator; add one to VALIDATORS in validate.mjs)`);
      continue;
    }
    if (!o.metadata?.name) errors.push(`${idOf(o)}: metadata.name is missing`);
    for (const e of validator(o)) errors.push(`${idOf(o)}: schema: ${e}`);
    if (o.kind === "StatefulSet") checkWorkload(o, objects, errors);
    if (o.kind === "ConfigMap" && o.data?.["flowwatch.yaml"] !== undefined) checkConfigMap(o, objects, opts, errors);
    if (o.kind === "PrometheusRule") checkPrometheusRule(o, opts, errors);
  }
  checkReferences(objects, errors);
  const kinds = [...new Set(objects.filter(isMap).map((o) => o.kind))];
  for (const k of opts.expectKinds || []) {
    if (!kinds.includes(k)) errors.push(`expected a ${k}, none rendered`);
  }
  if (opts.rules && !kinds.includes("PrometheusRule")) errors.push(`--rules given but no PrometheusRule rendered`);
  return { errors, kinds };
}

export function parseDocuments(text) {
  const docs = YAML.parseAllDocuments(text);
  const objects = [];
  for (const d of docs) {
    if (d.errors.length) throw new Error(`YAML: ${d.errors[0].message}`);
    const v = d.toJS();
    if (v !== null && v !== undefined) objects.push(v);
  }
  return objects;
}

// ---------------------------------------------------------------- self-test

const GOOD_STS = `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: broken}
spec:
  replicas: 1
  serviceName: flowwatch
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers:
        - name: flowwatch
          image: flowwatch
`;

function selfTest(opts) {
  const good = YAML.parse(GOOD_STS);
  const cases = [
    ["StatefulSet with replicas: \"one\"", (o) => (o.spec.replicas = "one"), /replicas: must be integer/],
    ["StatefulSet with a container without a name", (o) => delete o.spec.template.spec.containers[0].name, /must have required property 'name'|must have required property name/],
    ["StatefulSet without selector", (o) => delete o.spec.selector, /must have required property 'selector'|must have required property selector/],
    ["unknown kind", (o) => Object.assign(o, { apiVersion: "example.com/v1", kind: "Widget" }), /unknown kind example.com\/v1\/Widget/],
    ["SecretProviderClass with a misspelt secretObjects", () => ({
      apiVersion: "secrets-store.csi.x-k8s.io/v1", kind: "SecretProviderClass", metadata: { name: "broken" },
      spec: { provider: "azure", parameters: {}, secretObject: [] },
    }), /unknown field "secretObject"/],
    ["ServiceMonitor whose endpoints is a string", () => ({
      apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor", metadata: { name: "broken", labels: { release: "x" } },
      spec: { selector: {}, endpoints: "http" },
    }), /endpoints: must be array/],
  ];
  let failed = 0;
  // The schema alone accepts the well-formed object (the cases below are not rejected for a bad baseline).
  const baseline = VALIDATORS["apps/v1/StatefulSet"](good);
  if (baseline.length) {
    console.error(`self-test: FAIL: the well-formed StatefulSet is rejected: ${baseline.join("; ")}`);
    failed++;
  }
  for (const [what, mutate, expect] of cases) {
    let obj = structuredClone(good);
    const r = mutate(obj);
    if (r && r !== obj && typeof r === "object" && r.kind) obj = r;
    const { errors } = validateObjects([obj], opts);
    const hit = errors.find((e) => expect.test(e));
    if (hit) console.log(`self-test: rejected as intended: ${what}: ${hit}`);
    else {
      console.error(`self-test: FAIL: not rejected as expected: ${what}; errors: ${errors.join("; ") || "(none)"}`);
      failed++;
    }
  }
  // flowwatch's own rules on an otherwise schema-valid pod.
  const weak = structuredClone(good);
  weak.spec.template.spec.containers[0].securityContext = { readOnlyRootFilesystem: false };
  weak.spec.template.spec.terminationGracePeriodSeconds = 5;
  const weakErrors = validateObjects([weak], opts).errors;
  for (const expect of [/readOnlyRootFilesystem must be true/, /runAsNonRoot must be true/, /terminationGracePeriodSeconds must be >= 30/, /livenessProbe must be an httpGet probe/]) {
    const hit = weakErrors.find((e) => expect.test(e));
    if (hit) console.log(`self-test: rejected as intended: ${hit}`);
    else {
      console.error(`self-test: FAIL: no error matching ${expect}`);
      failed++;
    }
  }
  // A config key that flowwatch does not have; source.blob signed in wrongly.
  const keyErrors = [];
  checkConfigKeys({ state: { dirr: "/x" }, alerts: { webhooks: [{ url: "u", fromat: "generic" }] }, source: { blob: { acount_url: "x" } } },
    opts.example.example, opts.example.webhookKeys, "", keyErrors, opts.example.blobKeys);
  keyErrors.push(...checkBlobSource({ source: { blob: { connection_string: "AccountKey=abc", containers: ["c"] } } }));
  keyErrors.push(...checkBlobSource({ source: { blob: { account_url: "https://a", connection_string: "${AZURE_STORAGE_CONNECTION_STRING}" } } }));
  for (const expect of [/state\.dirr: not a key/, /alerts\.webhooks\[0\]\.fromat: not a webhook key/, /source\.blob\.acount_url: not a source\.blob key/,
    /never the string itself/, /set one of account_url/, /containers must list/]) {
    const hit = keyErrors.find((e) => expect.test(e));
    if (hit) console.log(`self-test: rejected as intended: config ${hit}`);
    else {
      console.error(`self-test: FAIL: config key check missed ${expect}`);
      failed++;
    }
  }
  console.log(failed ? `self-test: ${failed} check(s) FAILED` : "self-test: ok");
  return failed ? 1 : 0;
}

// ---------------------------------------------------------------- main

function main(argv) {
  const opts = { example: null, expectKinds: [], extract: null, configLike: null, rules: null, rulesGroup: null };
  let file = "-";
  let name = null;
  let exampleFile = DEFAULT_EXAMPLE;
  let self = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--self-test") self = true;
    else if (a === "--name") name = next();
    else if (a === "--example") exampleFile = next();
    else if (a === "--expect-kinds") opts.expectKinds = next().split(",").filter(Boolean);
    else if (a === "--extract") opts.extract = next();
    else if (a === "--config-like") opts.configLike = next();
    else if (a === "--rules") opts.rules = next();
    else if (a === "--rules-group") opts.rulesGroup = next();
    else if (a.startsWith("--")) throw new Error(`unknown option ${a}`);
    else file = a;
  }
  if (opts.rules && !opts.rulesGroup) throw new Error("--rules needs --rules-group");
  opts.example = loadExample(exampleFile);
  if (opts.example.webhookKeys.size === 0) throw new Error(`${exampleFile}: found no webhook keys under alerts.webhooks`);
  if (self) return selfTest(opts);

  const text = fs.readFileSync(file === "-" ? 0 : file, "utf8");
  name = name || (file === "-" ? "stdin" : file);
  let objects;
  try {
    objects = parseDocuments(text);
  } catch (e) {
    console.error(`${name}: ${e.message}`);
    return 1;
  }
  if (objects.length === 0) {
    console.error(`${name}: no objects`);
    return 1;
  }
  const { errors, kinds } = validateObjects(objects, opts);
  for (const e of errors) console.error(`${name}: ERROR ${e}`);
  const counts = kinds.map((k) => `${objects.filter((o) => o?.kind === k).length} ${k}`).join(", ");
  if (errors.length) {
    console.error(`${name}: ${objects.length} objects rendered, ${errors.length} error(s)`);
    return 1;
  }
  console.log(`${name}: ${objects.length} objects rendered, ${objects.length} validated (${counts})`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    console.error(`validate.mjs: ${e.message}`);
    process.exitCode = 2;
  }
}

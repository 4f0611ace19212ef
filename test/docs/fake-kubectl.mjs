#!/usr/bin/env node
// A stand-in for `kubectl` in the README test: no cluster, but every manifest the README applies is
// checked the way the API server and istiod would need it, and recorded. A cacerts Secret must be an
// Opaque Secret `cacerts` in istio-system whose ca-cert.pem openssl verifies against root-cert.pem,
// whose ca-key.pem is ca-cert.pem's key and whose cert-chain.pem starts with ca-cert.pem. Applying it
// in a context also publishes what istiod would: the istio-ca-root-cert (and, with ca-crl.pem,
// istio-ca-crl) ConfigMaps that `kubectl get cm` then prints. State lives in $FAKE_KUBE_DIR.
import { execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments, stringify } from "yaml";

const state = process.env.FAKE_KUBE_DIR;
if (!state) fail("FAKE_KUBE_DIR is not set");

function fail(message) {
  process.stderr.write(`kubectl (README test): ${message}\n`);
  process.exit(1);
}

// Global flags anywhere on the line: --context, -n/--namespace; the rest is the verb and its arguments.
const args = process.argv.slice(2);
let context = "default";
let namespace = "default";
const rest = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const value = (name) => (a.startsWith(`${name}=`) ? a.slice(name.length + 1) : a === name ? args[++i] : undefined);
  let v;
  if ((v = value("--context")) !== undefined) context = v;
  else if ((v = value("--namespace")) !== undefined || (v = value("-n")) !== undefined) namespace = v;
  else rest.push(a);
}
const flags = rest.filter((a) => a.startsWith("-"));
const words = rest.filter((a, i) => !a.startsWith("-") && !(i > 0 && ["-f", "--filename", "-o", "--output"].includes(rest[i - 1])));
const flagValue = (name) => {
  const i = rest.indexOf(name);
  if (i >= 0) return rest[i + 1];
  const eq = rest.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
};

const storeFile = join(state, "objects.json");
const objects = existsSync(storeFile) ? JSON.parse(readFileSync(storeFile, "utf8")) : {};
const key = (ctx, ns, kind, name) => `${ctx}/${ns}/${kind}/${name}`;
function save(obj, ns) {
  objects[key(context, ns, obj.kind, obj.metadata.name)] = obj;
  writeFileSync(storeFile, JSON.stringify(objects, null, 1));
  appendFileSync(join(state, "applied.jsonl"), `${JSON.stringify({ context, namespace: ns, kind: obj.kind, name: obj.metadata.name, keys: Object.keys(obj.data ?? {}).sort() })}\n`);
}

function readManifest() {
  const file = flagValue("-f") ?? flagValue("--filename");
  if (!file) fail("apply needs -f FILE or -f -");
  const text = file === "-" ? readFileSync(0, "utf8") : readFileSync(file, "utf8");
  if (!text.trim()) fail(`apply -f ${file}: the manifest is empty`);
  const docs = parseAllDocuments(text);
  for (const d of docs) if (d.errors.length) fail(`apply -f ${file}: not YAML: ${d.errors[0].message}`);
  return docs.map((d) => d.toJS()).filter(Boolean);
}

function openssl(args, dir) {
  try {
    return execFileSync("openssl", args, { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    fail(`openssl ${args.join(" ")}: ${err.stderr || err.message}`);
  }
}

function checkCacerts(secret) {
  const where = `Secret ${secret.metadata?.namespace ?? "(no namespace)"}/${secret.metadata?.name}`;
  if (secret.metadata?.namespace !== "istio-system") fail(`${where}: istiod reads cacerts from istio-system`);
  if (secret.type !== undefined && secret.type !== "Opaque") fail(`${where}: type ${secret.type}, expected Opaque`);
  const data = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), "base64").toString("utf8")]));
  const keys = Object.keys(data).sort().join(",");
  if (keys !== "ca-cert.pem,ca-key.pem,cert-chain.pem,root-cert.pem" && keys !== "ca-cert.pem,ca-crl.pem,ca-key.pem,cert-chain.pem,root-cert.pem") fail(`${where}: data keys ${keys}`);
  const dir = mkdtempSync(join(tmpdir(), "fake-kubectl-"));
  try {
    for (const [k, v] of Object.entries(data)) writeFileSync(join(dir, k), v);
    openssl(["verify", "-CAfile", "root-cert.pem", "ca-cert.pem"], dir);
    const certKey = openssl(["x509", "-in", "ca-cert.pem", "-noout", "-pubkey"], dir);
    const privKey = openssl(["pkey", "-in", "ca-key.pem", "-pubout"], dir);
    if (certKey !== privKey) fail(`${where}: ca-key.pem is not the key of ca-cert.pem`);
    if (!data["cert-chain.pem"].startsWith(data["ca-cert.pem"].trimEnd())) fail(`${where}: cert-chain.pem does not start with ca-cert.pem`);
    if (data["ca-crl.pem"]) openssl(["crl", "-in", "ca-crl.pem", "-noout"], dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return data;
}

function apply() {
  for (const obj of readManifest()) {
    if (!obj.apiVersion || !obj.kind || !obj.metadata?.name) fail(`apply: an object without apiVersion, kind or metadata.name`);
    const ns = obj.kind === "Namespace" ? "" : (obj.metadata.namespace ?? namespace);
    if (obj.kind === "Secret" && obj.metadata.name === "cacerts") {
      const data = checkCacerts(obj);
      // What istiod publishes from it, into every namespace.
      save({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "istio-ca-root-cert", namespace: "istio-system" }, data: { "root-cert.pem": data["root-cert.pem"] } }, "istio-system");
      if (data["ca-crl.pem"]) save({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "istio-ca-crl", namespace: "istio-system" }, data: { "ca-crl.pem": data["ca-crl.pem"] } }, "istio-system");
    } else if (obj.kind === "CronJob") {
      const containers = obj.spec?.jobTemplate?.spec?.template?.spec?.containers;
      if (obj.apiVersion !== "batch/v1" || !obj.spec?.schedule || !Array.isArray(containers) || !containers.length) fail(`apply: CronJob ${obj.metadata.name} is incomplete`);
    }
    save(obj, ns);
    process.stdout.write(`${obj.kind.toLowerCase()}/${obj.metadata.name} serverside-applied\n`);
  }
}

const [verb, what, name] = words;
if (verb === "apply") apply();
else if (verb === "create" && what === "namespace" && name) {
  const ns = { apiVersion: "v1", kind: "Namespace", metadata: { name } };
  if (flags.some((f) => f.startsWith("--dry-run"))) process.stdout.write(flagValue("-o") === "yaml" ? stringify(ns) : `namespace/${name} created (dry run)\n`);
  else save(ns, "");
} else if (verb === "create" && what === "secret" && words[2] === "generic" && words[3]) {
  const data = {};
  for (const f of rest.filter((a) => a.startsWith("--from-file="))) {
    const [k, path] = f.slice("--from-file=".length).split("=");
    if (!existsSync(path)) fail(`create secret: ${path} does not exist`);
    data[k] = readFileSync(path).toString("base64");
  }
  save({ apiVersion: "v1", kind: "Secret", metadata: { name: words[3], namespace }, data }, namespace);
} else if (verb === "get" && (what === "cm" || what === "configmap") && name) {
  const obj = objects[key(context, namespace, "ConfigMap", name)];
  if (!obj) fail(`Error from server (NotFound): configmaps "${name}" not found (context ${context})`);
  if (flagValue("-o") !== "json") fail("get cm: only -o json is simulated");
  process.stdout.write(`${JSON.stringify(obj, null, 4)}\n`);
} else fail(`not simulated: kubectl ${args.join(" ")}`);

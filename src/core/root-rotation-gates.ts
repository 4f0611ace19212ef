import type { IntermediateSummary, LiveIssuer, ObservedFacts, RootRecord, RootRotationRecord, RotationPhase } from "./ports.js";
import { bundlePem, bundleRoots } from "./root-rotation-plan.js";
import { sha256Hex } from "./observed-facts.js";

/**
 * The gates between root rotation phases, judged on what each cluster last reported. Pure: the
 * service gathers clusters, their intermediates and observations.
 */

export type GateCode =
  | "csr_required"
  | "not_prepared"
  | "never_observed"
  | "observation_stale"
  | "bundle_not_loaded"
  | "crl_not_loaded"
  | "multi_root_disabled"
  | "not_switched"
  | "not_signing_new"
  | "old_root_still_loaded";

/** One cluster as the rotation sees it. */
export interface RotationCluster {
  name: string;
  custody: "escrowed" | "external";
  active: IntermediateSummary | undefined;
  /** Its intermediate under the new root, not yet in service. */
  prepared: LiveIssuer | undefined;
  /** Signs under the new root (its active intermediate is the new root's). */
  switched: boolean;
  observation: { observedAt: Date; facts: ObservedFacts; multiRoot: boolean | null } | undefined;
}

export interface ClusterGate {
  cluster: string;
  met: boolean;
  code?: GateCode;
  detail?: string;
}

export interface GateVerdict {
  /** The phase `advance` moves to; null when the rotation is over. */
  next: RotationPhase | null;
  met: boolean;
  clusters: ClusterGate[];
  /** drop-old: not before this time (the last switch plus the workload certificate lifetime). */
  notBefore: Date | null;
}

const NEXT: Partial<Record<RotationPhase, RotationPhase>> = { prepared: "trust-both", "trust-both": "sign-new", "sign-new": "drop-old", "drop-old": "done" };

export function nextPhase(phase: RotationPhase): RotationPhase | null {
  return NEXT[phase] ?? null;
}

interface GateInput {
  rotation: RootRotationRecord;
  roots: RootRecord[];
  newRoot: RootRecord;
  clusters: RotationCluster[];
  now: Date;
  maxAgeMs: number;
}

function fresh(c: RotationCluster, now: Date, maxAgeMs: number): ClusterGate | undefined {
  if (!c.observation) return { cluster: c.name, met: false, code: "never_observed", detail: "the cluster has never reported what it loaded" };
  const age = now.getTime() - c.observation.observedAt.getTime();
  if (age > maxAgeMs) return { cluster: c.name, met: false, code: "observation_stale", detail: `its latest report is ${Math.floor(age / 3_600_000)} h old` };
  return undefined;
}

const ok = (cluster: string): ClusterGate => ({ cluster, met: true });

/** trust-both → sign-new: the cluster loaded A ‖ B (and B's CRLs when it loads CRLs), multi-root on. */
function trustsBoth(c: RotationCluster, g: GateInput, preparedKeyIds: Set<string>): ClusterGate {
  if (!c.prepared && !c.switched) {
    return c.custody === "external"
      ? { cluster: c.name, met: false, code: "csr_required", detail: "send a CSR for the new root: POST …/root-rotation/clusters/{cluster}/csr" }
      : { cluster: c.name, met: false, code: "not_prepared", detail: "no intermediate under the new root yet (advance prepares it)" };
  }
  const stale = fresh(c, g.now, g.maxAgeMs);
  if (stale) return stale;
  const facts = c.observation!.facts;
  const want = sha256Hex(bundlePem(bundleRoots(g.roots, g.rotation, false)));
  if (facts.bundleSha256 !== want) return { cluster: c.name, met: false, code: "bundle_not_loaded", detail: "root-cert.pem is not yet the old root followed by the new one" };
  if (c.observation!.multiRoot === false) return { cluster: c.name, met: false, code: "multi_root_disabled", detail: "istiod reports ISTIO_MULTIROOT_MESH=false: it would not reload the new bundle" };
  if (facts.crls !== null) {
    const loaded = new Set(facts.crls.map((x) => x.keyId));
    const absent = [g.newRoot.keyId, ...preparedKeyIds].filter((k) => !loaded.has(k.toLowerCase()));
    if (absent.length > 0) return { cluster: c.name, met: false, code: "crl_not_loaded", detail: `ca-crl.pem lacks ${absent.length} CRL(s) of the new root's side` };
  }
  return ok(c.name);
}

/** sign-new → drop-old: the cluster switched and istiod signs with its new intermediate. */
function signsNew(c: RotationCluster, g: GateInput): ClusterGate {
  if (!c.switched) return { cluster: c.name, met: false, code: "not_switched", detail: c.prepared ? "not switched yet (advance switches it)" : "no intermediate under the new root: send a CSR" };
  const stale = fresh(c, g.now, g.maxAgeMs);
  if (stale) return stale;
  if (c.observation!.facts.caCert?.fingerprintSha256 !== c.active!.fingerprintSha256) {
    return { cluster: c.name, met: false, code: "not_signing_new", detail: "istiod does not report signing with its intermediate under the new root yet" };
  }
  return ok(c.name);
}

/** drop-old → done: the cluster loaded B alone. */
function dropsOld(c: RotationCluster, g: GateInput): ClusterGate {
  const stale = fresh(c, g.now, g.maxAgeMs);
  if (stale) return stale;
  const want = sha256Hex(bundlePem([g.newRoot]));
  if (c.observation!.facts.bundleSha256 !== want) return { cluster: c.name, met: false, code: "old_root_still_loaded", detail: "root-cert.pem still holds more than the new root" };
  return ok(c.name);
}

/** Whether `advance` may move on, and per cluster why not. */
export function evaluateGate(g: GateInput, preparedKeyIds: Set<string>): GateVerdict {
  const next = nextPhase(g.rotation.phase);
  if (next === null) return { next, met: false, clusters: [], notBefore: null };
  let clusters: ClusterGate[];
  let notBefore: Date | null = null;
  switch (g.rotation.phase) {
    case "prepared":
      clusters = g.clusters.map((c) => ok(c.name));
      break;
    case "trust-both":
      clusters = g.clusters.map((c) => trustsBoth(c, g, preparedKeyIds));
      break;
    case "sign-new":
      clusters = g.clusters.map((c) => signsNew(c, g));
      if (g.rotation.lastSwitchAt) notBefore = new Date(g.rotation.lastSwitchAt.getTime() + g.rotation.workloadCertTtlMs);
      break;
    default:
      clusters = g.clusters.map((c) => dropsOld(c, g));
  }
  const waiting = notBefore !== null && g.now.getTime() < notBefore.getTime();
  return { next, met: clusters.every((c) => c.met) && !waiting, clusters, notBefore };
}

import type { Clock } from "../clock.js";
import { DomainError } from "../errors.js";
import { auditInput, type AuditContext } from "./audit.js";
import { clusterState, type ClusterState } from "./cluster-state.js";
import { requireCluster } from "./clusters.js";
import type { LabelSelector } from "./label-selector.js";
import { parseObservation } from "./observation-input.js";
import { observedCertificates, observedFacts, sha256Hex } from "./observed-facts.js";
import { caCrlIssuers, DEFAULT_WORKLOAD_CERT_TTL_MS } from "./ca-crl-issuers.js";
import { issuerKeyIds } from "./issuer-key-ids.js";
import type { ClusterRecord, IntermediateSummary, ObservationRecord, ObservationSummary, ObservedFacts, RootRecord, RootRotationRecord, Store } from "./ports.js";
import { DEFAULT_OBSERVATION_MAX_AGE_MS, deriveTrustState, desiredBundle, type DesiredBundle, type NeededIssuer, type TrustState, type TrustVerdict } from "./trust-state.js";
import { bundlePem, bundleRoots, isSwitched } from "./root-rotation-plan.js";

/** Audited writes that change a trust domain's roots or live intermediates (its desired files). */
const ISSUER_ACTIONS = [
  "trust_domain.create",
  "intermediate.issue",
  "intermediate.rotate",
  "intermediate.prepare",
  "intermediate.activate",
  "intermediate.revoke",
  "cluster.decommission",
  "root_rotation.start",
  "root_rotation.advance",
  "root_rotation.force",
  "root_rotation.switch",
  "root_rotation.rollback",
  // An observation marks the intermediate a cluster signs with: superseded ones' CRLs may leave the bundle.
  "cluster.observe",
] as const;

type Deps = {
  store: Pick<
    Store,
    "getCluster" | "getIntermediate" | "latestAuditSeq" | "listClusters" | "listRoots" | "latestRootRotation" | "listLiveIssuers" | "insertObservation" | "latestObservation" | "latestObservationSummaries" | "activeAndLatestIntermediates"
  >;
  clock: Clock;
  /** Older observations make a cluster stale (default 24 h). */
  observationMaxAgeMs?: number | undefined;
  /** When a superseded intermediate's CRL leaves ca-crl.pem (crl-pruning.ts); default 24 h. */
  workloadCertTtlMs?: number | undefined;
};

/** An observation as the fleet view uses it: when, the optional facts, and the parsed PEM texts. */
export type FleetObservation = Omit<ObservationSummary, "facts"> & { facts: ObservedFacts };

/** One cluster as the fleet view shows it: what meshroot issued and what the cluster runs. */
export interface FleetEntry {
  cluster: ClusterRecord;
  status: ClusterState;
  active: IntermediateSummary | undefined;
  trust: TrustVerdict;
  observation: FleetObservation | undefined;
}

/** What a cluster should load, beside what it reported (the cluster page's diff). */
export interface FleetDetail extends FleetEntry {
  desired: { roots: RootRecord[]; crlIssuers: NeededIssuer[] };
}

export interface FleetFilter {
  trustDomain?: string | undefined;
  state?: TrustState | undefined;
  /** Labels the cluster must match (parseLabelSelector). */
  selector?: LabelSelector | undefined;
}

interface Desired {
  rotation: RootRotationRecord | undefined;
  /** root-cert.pem for a cluster that does or does not sign under a root rotation's new root. */
  bundleFor(switched: boolean): { roots: RootRecord[]; bundle: DesiredBundle };
  needed: NeededIssuer[];
}

/** Clusters' observations (what they loaded) and the fleet's trust state derived from them. */
export function fleetService({ store, clock, observationMaxAgeMs = DEFAULT_OBSERVATION_MAX_AGE_MS, workloadCertTtlMs = DEFAULT_WORKLOAD_CERT_TTL_MS }: Deps) {
  const keyIdsOf = issuerKeyIds(store);

  /**
   * What every cluster of a trust domain should load, kept while nothing it depends on changed:
   * no audited write to roots or intermediates (in any process), and no live intermediate expired.
   */
  const cache = new Map<string, { version: number; validUntil: number; value: Desired }>();
  async function desired(trustDomain: string, now: Date): Promise<Desired> {
    const version = await store.latestAuditSeq(ISSUER_ACTIONS);
    const hit = cache.get(trustDomain);
    if (hit && hit.version === version && now.getTime() < hit.validUntil) return hit.value;
    const { value, validUntil } = await computeDesired(trustDomain, now);
    if (cache.size > 1000) cache.clear();
    cache.set(trustDomain, { version, validUntil, value });
    return value;
  }

  /** What every cluster of a trust domain should load: the bundle and the CRL issuers (ca-crl.pem). */
  async function computeDesired(trustDomain: string, now: Date): Promise<{ value: Desired; validUntil: number }> {
    const [roots, rotation, live] = await Promise.all([store.listRoots(trustDomain), store.latestRootRotation(trustDomain), store.listLiveIssuers(trustDomain, now)]);
    // The same issuers as ca-crl.pem (revocation.ts caCrlBundle).
    const crl = caCrlIssuers(roots, rotation, live, now, workloadCertTtlMs);
    const issuers = crl.intermediates;
    const needed: NeededIssuer[] = crl.roots.map((r) => ({ serial: r.serial, kind: "root", keyId: r.keyId }));
    const keyIds = await keyIdsOf(issuers);
    let validUntil = Number.MAX_SAFE_INTEGER;
    for (const rec of issuers) {
      const keyId = keyIds.get(rec.serial);
      if (keyId) needed.push({ serial: rec.serial, kind: "intermediate", keyId, cluster: rec.cluster });
      validUntil = Math.min(validUntil, rec.notAfter.getTime());
    }
    // A CRL leaves the bundle once its cluster has signed with a successor for the workload lifetime.
    for (const rec of live) {
      const prunesAt = rec.signingSeenAt ? rec.signingSeenAt.getTime() + workloadCertTtlMs : 0;
      if (prunesAt > now.getTime()) validUntil = Math.min(validUntil, prunesAt);
    }
    const variants = new Map<boolean, { roots: RootRecord[]; bundle: DesiredBundle }>();
    const bundleFor = (switched: boolean) => {
      let v = variants.get(switched);
      if (!v) {
        const inBundle = bundleRoots(roots, rotation, switched);
        variants.set(switched, (v = { roots: inBundle, bundle: desiredBundle(bundlePem(inBundle)) }));
      }
      return v;
    };
    return { value: { rotation, bundleFor, needed }, validUntil };
  }

  /** Observations stored before facts were kept are parsed on read. */
  async function withFacts(name: string, summary: ObservationSummary | undefined): Promise<FleetObservation | undefined> {
    if (!summary) return undefined;
    if (summary.facts) return summary as FleetObservation;
    const full = await store.latestObservation(name);
    return full && { ...summary, facts: observedFacts(full) };
  }

  /** Fleet entries of a batch of clusters: two batched reads, however many clusters. */
  async function entries(clusters: ClusterRecord[], want: (td: string) => Promise<Desired>, now: Date): Promise<FleetEntry[]> {
    const names = clusters.map((c) => c.name);
    const [intermediates, observations] = await Promise.all([store.activeAndLatestIntermediates(names), store.latestObservationSummaries(names)]);
    const out: FleetEntry[] = [];
    for (const cluster of clusters) {
      const { active, latest } = intermediates.get(cluster.name) ?? { active: undefined, latest: undefined };
      const observation = await withFacts(cluster.name, observations.get(cluster.name));
      const d = await want(cluster.trustDomain);
      const { bundle } = d.bundleFor(isSwitched(d.rotation, active?.rootSerial));
      const trust = deriveTrustState({ activeFingerprint: active?.fingerprintSha256, desired: bundle, needed: d.needed, observation, now, maxAgeMs: observationMaxAgeMs });
      out.push({ cluster, status: clusterState(cluster, active, latest, now), active, trust, observation });
    }
    return out;
  }

  async function detail(cluster: ClusterRecord, now: Date): Promise<FleetDetail> {
    const d = await desired(cluster.trustDomain, now);
    const [e] = await entries([cluster], async () => d, now);
    return { ...e!, desired: { roots: d.bundleFor(isSwitched(d.rotation, e!.active?.rootSerial)).roots, crlIssuers: d.needed } };
  }

  return {
    maxAgeMs: observationMaxAgeMs,

    /**
     * Records what a cluster's Istio loaded (JSON or a ConfigMap object, as text) and returns its
     * trust state. Throws `private_key_in_body` (before parsing), `validation_failed`,
     * `invalid_pem`, `cluster_not_found`, `cluster_decommissioned`.
     */
    async observe(name: string, body: string, ctx: AuditContext): Promise<FleetDetail> {
      const { parsed, ...input } = parseObservation(body);
      const cluster = await requireCluster(store, name);
      if (cluster.decommissionedAt) throw new DomainError("cluster_decommissioned", `cluster ${name} is decommissioned`);
      // istio-ca-crl carries no root-cert.pem: the cluster's bundle is the one it last reported.
      const rootCertPem = input.rootCertPem ?? (await store.latestObservation(name))?.rootCertPem;
      if (rootCertPem === undefined) {
        throw new DomainError("validation_failed", "the first observation of a cluster must carry root-cert.pem", [{ path: "body.data.root-cert.pem", message: "required" }]);
      }
      const now = clock.now();
      // Built from what parseObservation parsed; a CRL-only report re-reads the bundle it keeps.
      const facts: ObservedFacts = {
        bundleSha256: sha256Hex(rootCertPem),
        roots: parsed.roots ?? observedCertificates(rootCertPem, "rootCertPem"),
        caCert: parsed.caCert,
        crls: parsed.crls,
      };
      const record: ObservationRecord = { ...input, rootCertPem, cluster: name, observedAt: now, facts };
      const details = {
        source: record.source,
        rootFingerprints: facts.roots.map((r) => r.fingerprintSha256),
        caCertFingerprint: facts.caCert?.fingerprintSha256 ?? null,
        // A hash, not a fingerprint per CRL: ca-crl.pem can hold thousands, reported every few minutes.
        crlSha256: record.crlPem === null ? null : sha256Hex(record.crlPem),
        crlCount: facts.crls?.length ?? null,
        istioVersion: record.istioVersion,
        multiRoot: record.multiRoot,
        ambient: record.ambient,
      };
      await store.insertObservation(record, auditInput(ctx, now, "cluster.observe", { type: "cluster", id: name }, { cluster: name, trustDomain: cluster.trustDomain }, details));
      return detail(cluster, now);
    },

    /** One cluster's fleet entry with what it should load; throws `cluster_not_found`. */
    async get(name: string): Promise<FleetDetail> {
      return detail(await requireCluster(store, name), clock.now());
    },

    /**
     * Clusters by name with their trust state; `page.after` is a cluster name. With a state or
     * label filter, reads on until `page.limit` clusters match or none are left.
     */
    async list(filter: FleetFilter, page: { limit: number; after?: string | undefined }): Promise<FleetEntry[]> {
      const now = clock.now();
      const wants = new Map<string, Promise<Desired>>();
      const want = (td: string) => wants.get(td) ?? (wants.set(td, desired(td, now)), wants.get(td)!);
      const out: FleetEntry[] = [];
      let after = page.after;
      for (;;) {
        const batch = await store.listClusters({ limit: page.limit, after }, { trustDomain: filter.trustDomain });
        const selected = filter.selector ? batch.filter((c) => filter.selector!(c.labels)) : batch;
        for (const e of await entries(selected, want, now)) {
          if (!filter.state || e.trust.state === filter.state) out.push(e);
          if (out.length === page.limit) return out;
        }
        if (batch.length < page.limit) return out;
        after = batch[batch.length - 1]!.name;
      }
    },
  };
}

export type FleetService = ReturnType<typeof fleetService>;

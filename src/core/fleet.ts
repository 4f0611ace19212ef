import * as x509 from "@peculiar/x509";
import type { Clock } from "../clock.js";
import { DomainError } from "../errors.js";
import { subjectKeyId } from "../x509/certificates.js";
import { parsePem } from "../x509/pem.js";
import { auditInput, type AuditContext } from "./audit.js";
import { clusterState, type ClusterState } from "./cluster-state.js";
import { requireCluster } from "./clusters.js";
import { parseObservation } from "./observation-input.js";
import type { ClusterRecord, IntermediateRecord, ObservationRecord, Store, StoredObservation } from "./ports.js";
import { certificateFingerprints, DEFAULT_OBSERVATION_MAX_AGE_MS, deriveTrustState, derFingerprint, type NeededIssuer, type TrustState, type TrustVerdict } from "./trust-state.js";
import { trustBundle } from "./trust-domains.js";

type Deps = {
  store: Pick<Store, "getCluster" | "listClusters" | "listRoots" | "getActiveIntermediate" | "getLatestIntermediate" | "listLiveIntermediates" | "insertObservation" | "latestObservation">;
  clock: Clock;
  /** Older observations make a cluster stale (default 24 h). */
  observationMaxAgeMs?: number | undefined;
};

/** One cluster as the fleet view shows it: what meshroot issued and what the cluster runs. */
export interface FleetEntry {
  cluster: ClusterRecord;
  status: ClusterState;
  active: IntermediateRecord | undefined;
  trust: TrustVerdict;
  observation: StoredObservation | undefined;
}

export interface FleetFilter {
  trustDomain?: string | undefined;
  state?: TrustState | undefined;
}

/** Clusters' observations (what they loaded) and the fleet's trust state derived from them. */
export function fleetService({ store, clock, observationMaxAgeMs = DEFAULT_OBSERVATION_MAX_AGE_MS }: Deps) {
  /** What every cluster of a trust domain should load: the bundle and the CRL issuers (ca-crl.pem). */
  async function desired(trustDomain: string, now: Date) {
    const roots = (await store.listRoots(trustDomain)).filter((r) => r.status !== "retired");
    const needed: NeededIssuer[] = roots.map((r) => ({ serial: r.serial, kind: "root", keyId: r.keyId }));
    for (const rec of await store.listLiveIntermediates(trustDomain, now)) {
      needed.push({ serial: rec.serial, kind: "intermediate", keyId: subjectKeyId(new x509.X509Certificate(rec.certPem)), cluster: rec.cluster });
    }
    return { bundlePem: trustBundle(roots).join(""), needed };
  }
  type Desired = Awaited<ReturnType<typeof desired>>;

  async function entry(cluster: ClusterRecord, want: Desired, now: Date): Promise<FleetEntry> {
    const [active, latest, observation] = await Promise.all([
      store.getActiveIntermediate(cluster.name),
      store.getLatestIntermediate(cluster.name),
      store.latestObservation(cluster.name),
    ]);
    const trust = deriveTrustState({
      activeFingerprint: active?.fingerprintSha256,
      desiredBundlePem: want.bundlePem,
      needed: want.needed,
      observation,
      now,
      maxAgeMs: observationMaxAgeMs,
    });
    return { cluster, status: clusterState(cluster, active, latest, now), active, trust, observation };
  }

  return {
    maxAgeMs: observationMaxAgeMs,

    /**
     * Records what a cluster's Istio loaded (JSON or a ConfigMap object, as text) and returns its
     * trust state. Throws `private_key_in_body` (before parsing), `validation_failed`,
     * `invalid_pem`, `cluster_not_found`, `cluster_decommissioned`.
     */
    async observe(name: string, body: string, ctx: AuditContext): Promise<FleetEntry> {
      const input = parseObservation(body);
      const cluster = await requireCluster(store, name);
      if (cluster.decommissionedAt) throw new DomainError("cluster_decommissioned", `cluster ${name} is decommissioned`);
      // istio-ca-crl carries no root-cert.pem: the cluster's bundle is the one it last reported.
      const rootCertPem = input.rootCertPem ?? (await store.latestObservation(name))?.rootCertPem;
      if (rootCertPem === undefined) {
        throw new DomainError("validation_failed", "the first observation of a cluster must carry root-cert.pem", [{ path: "body.data.root-cert.pem", message: "required" }]);
      }
      const now = clock.now();
      const record: ObservationRecord = { ...input, rootCertPem, cluster: name, observedAt: now };
      const details = {
        source: record.source,
        rootFingerprints: certificateFingerprints(rootCertPem, "rootCertPem"),
        caCertFingerprint: record.caCertPem === null ? null : certificateFingerprints(record.caCertPem, "caCertPem")[0],
        crlFingerprints: record.crlPem === null ? null : parsePem(record.crlPem, "crlPem").map((b) => derFingerprint(b.der)),
        istioVersion: record.istioVersion,
        multiRoot: record.multiRoot,
        ambient: record.ambient,
      };
      await store.insertObservation(record, auditInput(ctx, now, "cluster.observe", { type: "cluster", id: name }, { cluster: name, trustDomain: cluster.trustDomain }, details));
      return entry(cluster, await desired(cluster.trustDomain, now), now);
    },

    /** One cluster's fleet entry; throws `cluster_not_found`. */
    async get(name: string): Promise<FleetEntry> {
      const cluster = await requireCluster(store, name);
      const now = clock.now();
      return entry(cluster, await desired(cluster.trustDomain, now), now);
    },

    /**
     * Clusters by name with their trust state; `page.after` is a cluster name. With a state
     * filter, reads on until `page.limit` clusters match or none are left.
     */
    async list(filter: FleetFilter, page: { limit: number; after?: string | undefined }): Promise<FleetEntry[]> {
      const now = clock.now();
      const wants = new Map<string, Promise<Desired>>();
      const want = (td: string) => wants.get(td) ?? (wants.set(td, desired(td, now)), wants.get(td)!);
      const out: FleetEntry[] = [];
      let after = page.after;
      for (;;) {
        const batch = await store.listClusters({ limit: page.limit, after }, { trustDomain: filter.trustDomain });
        for (const c of batch) {
          const e = await entry(c, await want(c.trustDomain), now);
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

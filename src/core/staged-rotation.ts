import * as x509 from "@peculiar/x509";
import type { Clock } from "../clock.js";
import { DAY_MS } from "../clock.js";
import { DomainError } from "../errors.js";
import { subjectKeyId } from "../x509/certificates.js";
import { auditInput, type AuditContext } from "./audit.js";
import { liveClusters, requireCluster } from "./clusters.js";
import { observedFacts } from "./observed-facts.js";
import type { IntermediateRecord, ObservedFacts, Store } from "./ports.js";

/**
 * Intermediate rotation that never breaks a peer. When a trust domain's clusters load
 * ca-crl.pem (its `caCrl` setting), Envoy refuses a peer's workload whose chain has an issuer
 * without a CRL in its own ca-crl.pem. So a cluster's next intermediate is first `prepared`: its
 * (empty) CRL joins every cluster's ca-crl.pem while the old one keeps signing. It is activated
 * (ca-cert.pem of the cluster's Secret, superseding the old one) only once every other cluster
 * was observed with that CRL loaded; a peer that never reported counts once the lead time
 * (MESHROOT_PREPARE_LEAD) has passed since the intermediate was prepared.
 */

/** Default of MESHROOT_PREPARE_LEAD: how far ahead of rotate-after the next generation is prepared. */
export const DEFAULT_PREPARE_LEAD_MS = 2 * DAY_MS;

export type PeerGateCode = "never_observed" | "crl_not_loaded";

export interface PeerGate {
  cluster: string;
  met: boolean;
  code?: PeerGateCode;
  detail: string;
}

export interface ActivationVerdict {
  met: boolean;
  /** Every other live cluster of the trust domain, those holding activation back first. */
  peers: PeerGate[];
  /** When peers that never reported stop holding it back (prepared + lead); null when none wait on time. */
  leadEndsAt: Date | null;
}

export interface PeerReport {
  name: string;
  observation: { observedAt: Date; facts: ObservedFacts } | undefined;
}

/**
 * Whether a prepared intermediate may be activated, judged on what its peers last reported.
 * Pure. A peer's report that holds the CRL (matched by the intermediate's key identifier) is
 * evidence it loaded it; a report without ca-crl.pem means that cluster checks no CRL; a report
 * with ca-crl.pem but not this CRL holds activation back whatever its age; no report at all is
 * waited out for the lead time.
 */
export function activationGate(input: { prepared: { cluster: string; keyId: string; createdAt: Date }; peers: readonly PeerReport[]; now: Date; leadMs: number }): ActivationVerdict {
  const { prepared, now } = input;
  const leadEndsAt = new Date(prepared.createdAt.getTime() + input.leadMs);
  const leadOver = now.getTime() >= leadEndsAt.getTime();
  const keyId = prepared.keyId.toLowerCase();
  let waitsOnTime = false;
  const peers: PeerGate[] = [];
  for (const p of input.peers) {
    if (p.name === prepared.cluster) continue;
    const o = p.observation;
    if (!o) {
      waitsOnTime = true;
      peers.push(
        leadOver
          ? { cluster: p.name, met: true, detail: `never reported; the lead time ended at ${leadEndsAt.toISOString()}` }
          : { cluster: p.name, met: false, code: "never_observed", detail: `never reported what it loaded; counts as loaded from ${leadEndsAt.toISOString()} (MESHROOT_PREPARE_LEAD)` },
      );
    } else if (o.facts.crls === null) {
      peers.push({ cluster: p.name, met: true, detail: "reports no ca-crl.pem: it checks no CRL" });
    } else if (o.facts.crls.some((c) => c.keyId === keyId)) {
      peers.push({ cluster: p.name, met: true, detail: `reported its CRL loaded at ${o.observedAt.toISOString()}` });
    } else {
      peers.push({ cluster: p.name, met: false, code: "crl_not_loaded", detail: `its ca-crl.pem (reported ${o.observedAt.toISOString()}) lacks this intermediate's CRL: apply its refreshed cacerts Secret (?crl=true) and report again` });
    }
  }
  peers.sort((a, b) => Number(a.met) - Number(b.met) || a.cluster.localeCompare(b.cluster));
  return { met: peers.every((p) => p.met), peers, leadEndsAt: waitsOnTime ? leadEndsAt : null };
}

/** A prepared intermediate that may not be activated yet, and why. */
export interface PendingActivation {
  record: IntermediateRecord;
  verdict: ActivationVerdict;
}

type Deps = {
  store: Pick<Store, "getTrustDomain" | "getCluster" | "listClusters" | "latestObservationSummaries" | "latestObservation" | "getActiveIntermediate" | "getIntermediate" | "activateIntermediate">;
  clock: Clock;
  prepareLeadMs?: number | undefined;
};

/** Verdicts on prepared intermediates, and their activation. */
export function stagedRotationService({ store, clock, prepareLeadMs = DEFAULT_PREPARE_LEAD_MS }: Deps) {
  /** What every live cluster of a trust domain last reported (one read for many verdicts). */
  async function peerReports(trustDomain: string): Promise<PeerReport[]> {
    const peers = await liveClusters(store, trustDomain);
    const summaries = await store.latestObservationSummaries(peers.map((p) => p.name));
    const reports: PeerReport[] = [];
    for (const p of peers) {
      const s = summaries.get(p.name);
      const facts = s && (s.facts ?? observedFacts((await store.latestObservation(p.name))!));
      reports.push({ name: p.name, observation: s && facts ? { observedAt: s.observedAt, facts } : undefined });
    }
    return reports;
  }

  /** The verdict on a prepared intermediate; `reports` (peerReports of its trust domain) when already read. */
  async function verdict(record: IntermediateRecord, reports?: PeerReport[]): Promise<ActivationVerdict> {
    reports ??= await peerReports(record.trustDomain);
    const keyId = record.keyId ?? subjectKeyId(new x509.X509Certificate(record.certPem));
    return activationGate({ prepared: { cluster: record.cluster, keyId, createdAt: record.createdAt }, peers: reports, now: clock.now(), leadMs: prepareLeadMs });
  }

  /**
   * Activates a prepared intermediate when its gate is met, or at once with `force` (audited
   * with the reason and the peers that had not loaded its CRL). Returns the active record, or
   * the verdict that holds it back (nothing written). Throws `certificate_not_found`,
   * `not_prepared`, `rotation_in_progress`.
   */
  async function tryActivate(
    record: IntermediateRecord,
    ctx: AuditContext,
    force?: { reason: string } | undefined,
    reports?: PeerReport[],
  ): Promise<{ activated: IntermediateRecord } | { pending: PendingActivation }> {
    if (record.status !== "prepared") {
      throw new DomainError("not_prepared", `intermediate ${record.serial} is ${record.status}, not prepared: only a prepared intermediate can be activated`);
    }
    const v = await verdict(record, reports);
    if (!v.met && !force) return { pending: { record, verdict: v } };
    const previous = await store.getActiveIntermediate(record.cluster);
    const unmet = v.peers.filter((p) => !p.met).map((p) => ({ cluster: p.cluster, code: p.code }));
    const now = clock.now();
    const activated = await store.activateIntermediate(
      record.serial,
      previous?.serial ?? null,
      auditInput(ctx, now, "intermediate.activate", { type: "intermediate", id: record.serial }, record, {
        generation: record.generation,
        supersedes: previous?.serial ?? null,
        gate: v.met ? "met" : "forced",
        // Peers that never reported were counted by time, not by evidence: say so.
        ...(v.met && v.leadEndsAt ? { leadEndedAt: v.leadEndsAt.toISOString() } : {}),
        ...(force && !v.met ? { forced: true, reason: force.reason, unmetPeers: unmet.slice(0, 100), unmetPeerCount: unmet.length } : {}),
      }),
    );
    return { activated };
  }

  return {
    prepareLeadMs,

    /** Whether a trust domain stages its rotations (its clusters load ca-crl.pem). */
    async stages(trustDomain: string): Promise<boolean> {
      return (await store.getTrustDomain(trustDomain))?.caCrl ?? false;
    },

    verdict,
    peerReports,

    tryActivate,

    /**
     * POST …/intermediates/{serial}/activate: activates a cluster's prepared intermediate when its
     * peers have its CRL, or with `force` and a reason. Throws `cluster_not_found`,
     * `certificate_not_found`, `not_prepared`, `gate_not_met` (naming the peers and why),
     * `rotation_in_progress`, `validation_failed` (force without a reason).
     */
    async activate(clusterName: string, serial: string, input: { force?: boolean | undefined; reason?: string | undefined }, ctx: AuditContext): Promise<IntermediateRecord> {
      if (input.force && !input.reason?.trim()) throw new DomainError("validation_failed", "a forced activation needs a reason (it is audited)", [{ path: "body.reason", message: "required with force" }]);
      await requireCluster(store, clusterName);
      const record = await store.getIntermediate(serial);
      if (!record || record.cluster !== clusterName) throw new DomainError("certificate_not_found", `cluster ${clusterName} has no intermediate ${serial}`);
      const outcome = await tryActivate(record, ctx, input.force ? { reason: input.reason!.trim() } : undefined);
      if ("activated" in outcome) return outcome.activated;
      const blocking = outcome.pending.verdict.peers.filter((p) => !p.met);
      throw new DomainError(
        "gate_not_met",
        `${blocking.length} peer(s) of ${clusterName} have not loaded the CRL of ${serial}: activating it now would break their traffic from ${clusterName}'s workloads; refresh their Secrets (cacerts ?crl=true) and report, or force with a reason`,
        blocking.slice(0, 100).map((p) => ({ path: `peers.${p.cluster}`, message: `${p.code}: ${p.detail}` })),
      );
    },
  };
}

export type StagedRotationService = ReturnType<typeof stagedRotationService>;

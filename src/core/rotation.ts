import type { Clock } from "../clock.js";
import { DomainError } from "../errors.js";
import { auditInput, type AuditContext } from "./audit.js";
import type { IssuanceService, IssueResult } from "./issuance.js";
import { clusterState, type ClusterState } from "./cluster-state.js";
import type { IntermediateRecord, Observer, Store } from "./ports.js";
import { openRotation } from "./root-rotation-plan.js";
import type { PeerGate, StagedRotationService } from "./staged-rotation.js";

export interface DueCluster {
  cluster: string;
  trustDomain: string;
  status: ClusterState;
  /** The intermediate to replace: the active one, or the revoked one of a revoked cluster. */
  serial: string;
  generation: number;
  custody: "escrowed" | "external";
  rotateAfter: Date;
  notAfter: Date;
}

/** An issuance that put a new intermediate in service, with its Secret's files. */
type Issued = Extract<IssueResult, { files: object }>;

/** A staged rotation's prepared intermediate that its peers hold back (staged-rotation.ts). */
export interface PendingRotation {
  cluster: string;
  serial: string;
  generation: number;
  /** Prepared in this run. */
  prepared: boolean;
  /** The peers that have not loaded its CRL yet. */
  waitingFor: Omit<PeerGate, "met">[];
  /** When peers that never reported stop holding it back; null when none wait on time. */
  leadEndsAt: Date | null;
}

export interface RotationReport {
  dryRun: boolean;
  /** Clusters whose Secret changed: a new active intermediate (one step, or a prepared one activated). */
  rotated: { cluster: string; previousSerial: string; serial: string; generation: number; notAfter: Date }[];
  /** Staged rotations not activated yet: every cluster's Secret (its ca-crl.pem) must be refreshed for them. */
  pending: PendingRotation[];
  skipped: { cluster: string; reason: string }[];
  /** Dry runs only: what a real run would rotate. */
  wouldRotate: { cluster: string; serial: string; status: string; rotateAfter: Date; notAfter: Date }[];
  failed: { cluster: string; code: string; detail: string }[];
}

type Deps = {
  store: Pick<Store, "listDueIntermediates" | "listRevokedClusters" | "getLatestIntermediate" | "appendAudit" | "listCertificates" | "latestRootRotation" | "getActiveIntermediate">;
  issuance: Pick<IssuanceService, "issue">;
  staging: Pick<StagedRotationService, "stages" | "verdict" | "tryActivate" | "prepareLeadMs">;
  clock: Clock;
  observer: Pick<Observer, "rotation">;
};

/** Which clusters are due, and rotating them. Rotation supersedes; it never revokes. */
export function rotationService({ store, issuance, staging, clock, observer }: Deps) {
  /** Prepared intermediates of staged rotations (not a root rotation's), oldest first. */
  async function stagedPrepared(trustDomain: string | undefined): Promise<IntermediateRecord[]> {
    const out: IntermediateRecord[] = [];
    const rotating = new Map<string, boolean>();
    let after: { createdAt: number; serial: string } | undefined;
    for (;;) {
      const page = await store.listCertificates({ status: "prepared", trustDomain }, clock.now(), { limit: 500, after });
      for (const r of page) {
        if (!rotating.has(r.trustDomain)) rotating.set(r.trustDomain, openRotation(await store.latestRootRotation(r.trustDomain)) !== undefined);
        if (!rotating.get(r.trustDomain)) out.push(r);
      }
      if (page.length < 500) return out.reverse();
      const last = page[page.length - 1]!;
      after = { createdAt: last.createdAt.getTime(), serial: last.serial };
    }
  }

  async function due(withinMs: number, trustDomain?: string): Promise<DueCluster[]> {
    const now = clock.now();
    const active = await store.listDueIntermediates(new Date(now.getTime() + withinMs), trustDomain);
    const list: DueCluster[] = active.map((i) => ({
      cluster: i.cluster,
      trustDomain: i.trustDomain,
      status: i.notAfter.getTime() <= now.getTime() ? "expired" : i.rotateAfter.getTime() <= now.getTime() ? "due" : "active",
      serial: i.serial,
      generation: i.generation,
      custody: i.custody,
      rotateAfter: i.rotateAfter,
      notAfter: i.notAfter,
    }));
    for (const c of await store.listRevokedClusters(trustDomain)) {
      const latest = (await store.getLatestIntermediate(c.name))!;
      list.push({
        cluster: c.name,
        trustDomain: c.trustDomain,
        status: clusterState(c, undefined, latest, now),
        serial: latest.serial,
        generation: latest.generation,
        custody: latest.custody,
        rotateAfter: latest.rotateAfter,
        notAfter: latest.notAfter,
      });
    }
    return list;
  }

  return {
    /** Clusters due for rotation now, or within `withinMs`; revoked clusters are always listed. */
    due,

    /**
     * Rotates every due cluster for which `inScope` holds. External-custody clusters are
     * skipped (they need a CSR); one cluster's failure does not stop the others. Each rotation
     * carries the idempotency key `rotate:<serial it replaces>`, so concurrent runs (schedule,
     * CLI, API) rotate a cluster once. In a trust domain that stages rotations, prepared
     * intermediates whose peers have their CRL are activated first, and the next generation is
     * prepared the lead time ahead of rotate-after; what its peers hold back is `pending`.
     */
    async run(
      opts: { dryRun?: boolean | undefined; trustDomain?: string | undefined; inScope?: (cluster: string) => boolean },
      ctx: AuditContext,
    ): Promise<RotationReport & { issued: Issued[] }> {
      const report: RotationReport & { issued: Issued[] } = { dryRun: opts.dryRun ?? false, rotated: [], pending: [], skipped: [], wouldRotate: [], failed: [], issued: [] };
      const handled = new Set<string>();
      const fail = async (d: { cluster: string; serial: string }, err: unknown, action: string) => {
        const code = err instanceof DomainError ? err.code : "internal_error";
        const detail = err instanceof DomainError ? err.message : "unexpected error; see the server log";
        report.failed.push({ cluster: d.cluster, code, detail });
        observer.rotation("failure");
        await store.appendAudit(auditInput(ctx, clock.now(), action, { type: "cluster", id: d.cluster }, d, { replaces: d.serial, code, detail }, "failure"));
      };
      for (const p of await stagedPrepared(opts.trustDomain)) {
        if (opts.inScope && !opts.inScope(p.cluster)) continue;
        handled.add(p.cluster);
        try {
          if (report.dryRun) {
            const v = await staging.verdict(p);
            if (v.met) report.wouldRotate.push({ cluster: p.cluster, serial: p.serial, status: "prepared", rotateAfter: p.rotateAfter, notAfter: p.notAfter });
            else report.pending.push(pendingOf(p, v, false));
            continue;
          }
          const previous = await store.getActiveIntermediate(p.cluster);
          const outcome = await staging.tryActivate(p, ctx);
          if ("pending" in outcome) {
            report.pending.push(pendingOf(p, outcome.pending.verdict, false));
            continue;
          }
          report.rotated.push({ cluster: p.cluster, previousSerial: previous?.serial ?? "", serial: p.serial, generation: p.generation, notAfter: p.notAfter });
          observer.rotation("success");
        } catch (err) {
          await fail({ cluster: p.cluster, serial: p.serial }, err, "intermediate.activate");
        }
      }
      const stages = new Map<string, boolean>();
      for (const d of await due(staging.prepareLeadMs, opts.trustDomain)) {
        if (opts.inScope && !opts.inScope(d.cluster)) continue;
        if (handled.has(d.cluster)) continue;
        // Within the lead time of rotate-after, only trust domains that stage prepare early.
        if (d.status === "active") {
          if (!stages.has(d.trustDomain)) stages.set(d.trustDomain, await staging.stages(d.trustDomain));
          if (!stages.get(d.trustDomain)) continue;
        }
        if (d.custody === "external") {
          report.skipped.push({ cluster: d.cluster, reason: "external key custody: rotate by sending a CSR to POST /v1/clusters/{name}/intermediates" });
          if (!report.dryRun) observer.rotation("skipped");
          continue;
        }
        if (report.dryRun) {
          report.wouldRotate.push({ cluster: d.cluster, serial: d.serial, status: d.status, rotateAfter: d.rotateAfter, notAfter: d.notAfter });
          continue;
        }
        try {
          const result = await issuance.issue(d.cluster, { idempotencyKey: `rotate:${d.serial}`, requestHash: "rotation" }, ctx);
          if (result.pending) {
            report.pending.push(pendingOf(result.record, result.pending.verdict, result.created));
            continue;
          }
          report.issued.push(result);
          report.rotated.push({ cluster: d.cluster, previousSerial: d.serial, serial: result.record.serial, generation: result.record.generation, notAfter: result.record.notAfter });
          observer.rotation("success");
        } catch (err) {
          await fail(d, err, "intermediate.rotate");
        }
      }
      return report;
    },
  };
}

export type RotationService = ReturnType<typeof rotationService>;

function pendingOf(record: IntermediateRecord, verdict: { peers: PeerGate[]; leadEndsAt: Date | null }, prepared: boolean): PendingRotation {
  return {
    cluster: record.cluster,
    serial: record.serial,
    generation: record.generation,
    prepared,
    waitingFor: verdict.peers.filter((p) => !p.met).map(({ met: _met, ...p }) => p),
    leadEndsAt: verdict.leadEndsAt,
  };
}

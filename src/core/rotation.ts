import type { Clock } from "../clock.js";
import { DomainError } from "../errors.js";
import { auditInput, type AuditContext } from "./audit.js";
import type { IssuanceService, IssueResult } from "./issuance.js";
import { clusterState, type ClusterState } from "./cluster-state.js";
import type { Observer, Store } from "./ports.js";

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

export interface RotationReport {
  dryRun: boolean;
  rotated: { cluster: string; previousSerial: string; serial: string; generation: number; notAfter: Date }[];
  skipped: { cluster: string; reason: string }[];
  /** Dry runs only: what a real run would rotate. */
  wouldRotate: { cluster: string; serial: string; status: string; rotateAfter: Date; notAfter: Date }[];
  failed: { cluster: string; code: string; detail: string }[];
}

type Deps = {
  store: Pick<Store, "listDueIntermediates" | "listRevokedClusters" | "getLatestIntermediate" | "appendAudit">;
  issuance: Pick<IssuanceService, "issue">;
  clock: Clock;
  observer: Pick<Observer, "rotation">;
};

/** Which clusters are due, and rotating them. Rotation supersedes; it never revokes. */
export function rotationService({ store, issuance, clock, observer }: Deps) {
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
     * CLI, API) rotate a cluster once.
     */
    async run(
      opts: { dryRun?: boolean | undefined; trustDomain?: string | undefined; inScope?: (cluster: string) => boolean },
      ctx: AuditContext,
    ): Promise<RotationReport & { issued: IssueResult[] }> {
      const report: RotationReport & { issued: IssueResult[] } = { dryRun: opts.dryRun ?? false, rotated: [], skipped: [], wouldRotate: [], failed: [], issued: [] };
      for (const d of await due(0, opts.trustDomain)) {
        if (opts.inScope && !opts.inScope(d.cluster)) continue;
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
          report.issued.push(result);
          report.rotated.push({ cluster: d.cluster, previousSerial: d.serial, serial: result.record.serial, generation: result.record.generation, notAfter: result.record.notAfter });
          observer.rotation("success");
        } catch (err) {
          const code = err instanceof DomainError ? err.code : "internal_error";
          const detail = err instanceof DomainError ? err.message : "unexpected error; see the server log";
          report.failed.push({ cluster: d.cluster, code, detail });
          observer.rotation("failure");
          await store.appendAudit(
            auditInput(ctx, clock.now(), "intermediate.rotate", { type: "cluster", id: d.cluster }, d, { replaces: d.serial, code, detail }, "failure"),
          );
        }
      }
      return report;
    },
  };
}

export type RotationService = ReturnType<typeof rotationService>;

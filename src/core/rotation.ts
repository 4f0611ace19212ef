import type { Clock } from "../clock.js";
import { DomainError } from "../errors.js";
import { auditInput, type AuditContext } from "./audit.js";
import type { IssuanceService, IssueResult } from "./issuance.js";
import type { RevocationService } from "./revocation.js";
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
  staging: Pick<StagedRotationService, "stages" | "verdict" | "tryActivate" | "prepareLeadMs" | "peerReports">;
  /** Signs the trust domains' ca-crl.pem after a run (new intermediates' first CRLs), so that the Secrets fetched next are served at once. */
  revocation?: Pick<RevocationService, "caCrlBundle"> | undefined;
  clock: Clock;
  observer: Pick<Observer, "rotation">;
};

/**
 * Rotations (each a few reads, a key pair, a signature) in flight at once: their commits share a
 * transaction (group commit). On a writer thread, the first of them commit while the event loop
 * computes the others (issuance-writer.ts sends 16 at a time), so more in flight overlaps more.
 */
const ROTATION_CONCURRENCY = 64;

/** Maps `items` through `work` with at most `limit` in flight; results in input order. */
async function inPool<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await work(items[i]!);
      }
    }),
  );
  return out;
}

/** Which clusters are due, and rotating them. Rotation supersedes; it never revokes. */
export function rotationService({ store, issuance, staging, revocation, clock, observer }: Deps) {
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
      // What peers reported, read once per trust domain for every verdict of this run.
      const reports = new Map<string, ReturnType<typeof staging.peerReports>>();
      const reportsOf = (td: string) => {
        if (!reports.has(td)) reports.set(td, staging.peerReports(td));
        return reports.get(td)!;
      };
      const touched = new Set<string>();
      const prepared = (await stagedPrepared(opts.trustDomain)).filter((p) => !opts.inScope || opts.inScope(p.cluster));
      const activations = await inPool(prepared, ROTATION_CONCURRENCY, async (p) => {
        handled.add(p.cluster);
        try {
          if (report.dryRun) return { kind: "dry" as const, p, verdict: await staging.verdict(p, await reportsOf(p.trustDomain)) };
          const previous = await store.getActiveIntermediate(p.cluster);
          return { kind: "run" as const, p, previous, outcome: await staging.tryActivate(p, ctx, undefined, await reportsOf(p.trustDomain)) };
        } catch (err) {
          return { kind: "failed" as const, p, err };
        }
      });
      for (const a of activations) {
        const { p } = a;
        if (a.kind === "failed") {
          await fail({ cluster: p.cluster, serial: p.serial }, a.err, "intermediate.activate");
        } else if (a.kind === "dry") {
          if (a.verdict.met) report.wouldRotate.push({ cluster: p.cluster, serial: p.serial, status: "prepared", rotateAfter: p.rotateAfter, notAfter: p.notAfter });
          else report.pending.push(pendingOf(p, a.verdict, false));
        } else if ("pending" in a.outcome) {
          report.pending.push(pendingOf(p, a.outcome.pending.verdict, false));
        } else {
          touched.add(p.trustDomain);
          report.rotated.push({ cluster: p.cluster, previousSerial: a.previous?.serial ?? "", serial: p.serial, generation: p.generation, notAfter: p.notAfter });
          observer.rotation("success");
        }
      }
      const stages = new Map<string, boolean>();
      const toRotate: DueCluster[] = [];
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
        toRotate.push(d);
      }
      const results = await inPool(toRotate, ROTATION_CONCURRENCY, (d) =>
        issuance.issue(d.cluster, { idempotencyKey: `rotate:${d.serial}`, requestHash: "rotation" }, ctx).then(
          (result) => ({ d, result }),
          (err: unknown) => ({ d, err }),
        ),
      );
      for (const r of results) {
        const { d } = r;
        if ("err" in r) {
          await fail(d, r.err, "intermediate.rotate");
          continue;
        }
        touched.add(d.trustDomain);
        const { result } = r;
        if (result.pending) {
          report.pending.push(pendingOf(result.record, result.pending.verdict, result.created));
          continue;
        }
        report.issued.push(result);
        report.rotated.push({ cluster: d.cluster, previousSerial: d.serial, serial: result.record.serial, generation: result.record.generation, notAfter: result.record.notAfter });
        observer.rotation("success");
      }
      // The new intermediates' first CRLs, signed now in one batch: the Secrets fetched next
      // (cacerts?crl=true) are served without signing thousands of CRLs on demand.
      for (const td of touched) await revocation?.caCrlBundle(td).catch(() => undefined);
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

import type { AuditInput } from "../../core/audit.js";
import type { IntermediateRecord, IntermediateStore } from "../../core/ports.js";
import type { AuditAppender } from "./audit-store.js";
import { DomainError } from "../../errors.js";
import type { Db } from "./database.js";
import { inThreadGroupCommit, type IssuanceCommitter } from "./group-commit.js";
import { INTERMEDIATE_SELECT, toIntermediate, type IntermediateRow } from "../rows.js";

/**
 * Intermediates in SQLite; issuance and supersession commit in one transaction, on this
 * connection (group-commit.ts) or, given a `writer` (issuance-writer.ts), on the writer thread's.
 */
export function sqliteIntermediateStore(db: Db, append: AuditAppender, writer?: IssuanceCommitter): IntermediateStore {
  const committer = writer ?? inThreadGroupCommit(db, append);
  const bySerial = db.prepare(`${INTERMEDIATE_SELECT} WHERE i.serial = ?`);
  const byIdempotencyKey = db.prepare(`${INTERMEDIATE_SELECT} WHERE i.cluster = ? AND i.idempotency_key = ?`);
  const active = db.prepare(`${INTERMEDIATE_SELECT} WHERE i.cluster = ? AND i.status = 'active'`);
  const latest = db.prepare(`${INTERMEDIATE_SELECT} WHERE i.cluster = ? ORDER BY i.generation DESC LIMIT 1`);
  const createdSince = db.prepare("SELECT COUNT(*) AS n FROM intermediates WHERE cluster = ? AND created_at > ?");
  const page = db.prepare(`${INTERMEDIATE_SELECT} WHERE i.cluster = @cluster AND i.generation < @before ORDER BY i.generation DESC LIMIT @limit`);
  const stepDown = db.prepare("UPDATE intermediates SET status = 'superseded' WHERE serial = ? AND status = 'active'");
  const stepUp = db.prepare("UPDATE intermediates SET status = 'active', supersedes = @previous WHERE serial = @serial AND status = 'prepared'");
  const activeSerial = db.prepare("SELECT serial FROM intermediates WHERE cluster = (SELECT cluster FROM intermediates WHERE serial = ?) AND status = 'active'");

  const inventory = new Map<string, ReturnType<Db["prepare"]>>();
  const inventoryStatement = (sql: string) => {
    let s = inventory.get(sql);
    if (!s) inventory.set(sql, (s = db.prepare(sql)));
    return s;
  };

  const activate = db.transaction((serial: string, previous: string | null, audit: AuditInput): IntermediateRow => {
    const moved = () => new DomainError("rotation_in_progress", `intermediate ${serial} or its cluster's active one changed meanwhile; read them again`);
    if (previous !== null ? stepDown.run(previous).changes !== 1 : activeSerial.get(serial) !== undefined) throw moved();
    if (stepUp.run({ serial, previous }).changes !== 1) throw moved();
    append(audit);
    return bySerial.get(serial) as IntermediateRow;
  });
  return {
    async listCertificates(filter, now, p) {
      const clauses: string[] = [];
      const params: Record<string, unknown> = { limit: p.limit };
      if (filter.cluster) clauses.push("i.cluster = @cluster"), (params.cluster = filter.cluster);
      if (filter.trustDomain) clauses.push("i.trust_domain = @trustDomain"), (params.trustDomain = filter.trustDomain);
      if (filter.expiresBefore) clauses.push("i.not_after < @expiresBefore"), (params.expiresBefore = filter.expiresBefore.getTime());
      if (filter.issuedAfter) clauses.push("i.created_at > @issuedAfter"), (params.issuedAfter = filter.issuedAfter.getTime());
      if (filter.status) {
        params.now = now.getTime();
        clauses.push(
          filter.status === "revoked"
            ? "i.status = 'revoked'"
            : filter.status === "expired"
              ? "i.status <> 'revoked' AND i.not_after <= @now"
              : `i.status = '${filter.status}' AND i.not_after > @now`,
        );
      }
      if (p.after) {
        clauses.push("(i.created_at < @afterCreated OR (i.created_at = @afterCreated AND i.serial < @afterSerial))");
        params.afterCreated = p.after.createdAt;
        params.afterSerial = p.after.serial;
      }
      const where = clauses.length ? `WHERE ${clauses.join(" AND ")}` : "";
      const rows = inventoryStatement(`${INTERMEDIATE_SELECT} ${where} ORDER BY i.created_at DESC, i.serial DESC LIMIT @limit`).all(params);
      return (rows as IntermediateRow[]).map(toIntermediate);
    },
    insertIntermediate(record, audit) {
      return committer.submit(record, audit);
    },
    async getIntermediate(serial) {
      const row = bySerial.get(serial) as IntermediateRow | undefined;
      return row && toIntermediate(row);
    },
    async getIntermediateByIdempotencyKey(cluster, key) {
      const row = byIdempotencyKey.get(cluster, key) as IntermediateRow | undefined;
      return row && toIntermediate(row);
    },
    async getActiveIntermediate(cluster) {
      const row = active.get(cluster) as IntermediateRow | undefined;
      return row && toIntermediate(row);
    },
    async getLatestIntermediate(cluster) {
      committer.notice(cluster);
      const row = latest.get(cluster) as IntermediateRow | undefined;
      return row && toIntermediate(row);
    },
    async activateIntermediate(serial, previous, audit) {
      return toIntermediate(activate.immediate(serial, previous, audit));
    },
    async countIntermediatesSince(cluster, since) {
      return (createdSince.get(cluster, since.getTime()) as { n: number }).n;
    },
    async listIntermediates(cluster, p) {
      const before = p.after === undefined ? Number.MAX_SAFE_INTEGER : Number(p.after);
      return (page.all({ cluster, before, limit: p.limit }) as IntermediateRow[]).map(toIntermediate);
    },
  };
}


import type { AuditInput } from "../../core/audit.js";
import type { IntermediateRecord } from "../../core/ports.js";
import { DomainError } from "../../errors.js";
import type { AuditAppender } from "./audit-store.js";
import { isUniqueViolation, type Db } from "./database.js";
import { INTERMEDIATE_SELECT, toIntermediate, type IntermediateRow } from "../rows.js";

/** One issuance to commit: the record and its audit event. */
export interface PendingIssue {
  rec: IntermediateRecord;
  audit: AuditInput;
}

/** What committing one issuance gave: the record kept (created, or an earlier one for its Idempotency-Key), or why not. */
export type IssueOutcome = { ok: true; record: IntermediateRecord | null; created: boolean } | { ok: false; error: unknown };

/**
 * The statements of an issuance's commit, on one connection: the Idempotency-Key replay, the
 * dense-generation check, the supersession, the insert and the audit event. `batch` commits
 * several in one transaction (one fsync), each in its own savepoint, so one refusal undoes none of
 * the others. A created outcome carries no record (the caller has it); a replay carries the
 * earlier one. Shared by the in-thread group commit and the writer thread (issuance-writer.ts).
 */
export function issueTransaction(db: Db, append: AuditAppender) {
  const insert = db.prepare(`INSERT INTO intermediates (serial, cluster, trust_domain, root_serial, generation, status, custody,
      key_algorithm, cert_pem, sealed_key, fingerprint_sha256, not_before, not_after, rotate_after, supersedes, revoked_at,
      revocation_reason, idempotency_key, request_hash, created_at, subject, key_id)
    VALUES (@serial, @cluster, @trustDomain, @rootSerial, @generation, @status, @custody, @keyAlgorithm, @certPem, @sealedKey,
      @fingerprintSha256, @notBefore, @notAfter, @rotateAfter, @supersedes, @revokedAt, @revocationReason, @idempotencyKey,
      @requestHash, @createdAt, @subject, @keyId)`);
  const supersede = db.prepare("UPDATE intermediates SET status = 'superseded' WHERE cluster = ? AND status = 'active'");
  const byIdempotencyKey = db.prepare(`${INTERMEDIATE_SELECT} WHERE i.cluster = ? AND i.idempotency_key = ?`);
  const latestGeneration = db.prepare("SELECT MAX(generation) AS g FROM intermediates WHERE cluster = ?");

  const issue = db.transaction((rec: IntermediateRecord, audit: AuditInput): { record: IntermediateRecord | null; created: boolean } => {
    if (rec.idempotencyKey !== null) {
      const earlier = byIdempotencyKey.get(rec.cluster, rec.idempotencyKey) as IntermediateRow | undefined;
      if (earlier) return { record: toIntermediate(earlier), created: false };
    }
    const { g } = latestGeneration.get(rec.cluster) as { g: number | null };
    if ((g ?? 0) !== rec.generation - 1) {
      throw new DomainError(
        "rotation_in_progress",
        `another issuance for cluster ${rec.cluster} committed generation ${g} first; retry to issue the next one`,
      );
    }
    // A prepared intermediate (root rotation) waits beside the active one; an active one replaces it.
    if (rec.status === "active") supersede.run(rec.cluster);
    insert.run({
      ...rec,
      subject: rec.subject ?? null,
      keyId: rec.keyId ?? null,
      sealedKey: rec.sealedKey && Buffer.from(rec.sealedKey),
      notBefore: rec.notBefore.getTime(),
      notAfter: rec.notAfter.getTime(),
      rotateAfter: rec.rotateAfter.getTime(),
      revokedAt: rec.revokedAt?.getTime() ?? null,
      createdAt: rec.createdAt.getTime(),
    });
    append(audit);
    return { record: null, created: true };
  });

  const conflict = (err: unknown, record: IntermediateRecord) =>
    isUniqueViolation(err) ? new DomainError("rotation_in_progress", `another issuance for cluster ${record.cluster} is in progress; retry`) : err;

  /** Commits `items` in one transaction (BEGIN IMMEDIATE); throws only when the transaction itself fails. */
  const batch = db.transaction((items: readonly PendingIssue[]): IssueOutcome[] =>
    items.map((it) => {
      try {
        return { ok: true as const, ...issue(it.rec, it.audit) };
      } catch (error) {
        return { ok: false as const, error: conflict(error, it.rec) };
      }
    }),
  );
  return { commit: (items: readonly PendingIssue[]) => batch.immediate(items) };
}

import type { AuditInput } from "../../core/audit.js";
import type { IntermediateRecord, IntermediateStore } from "../../core/ports.js";
import { DomainError } from "../../errors.js";
import { GENESIS_HASH } from "../../core/audit.js";
import { appendAudit, CHANGE_CHANNEL, readChainHead, splitEventText, type ChainCursor } from "./audit-store.js";
import { AUDIT_LOCK, isUnavailable, isUniqueViolation, type PgDb, type Sql } from "./pool.js";
import { INTERMEDIATE_SELECT, toIntermediate, type IntermediateRow } from "../rows.js";

/** How many issuances share one commit at most. */
const GROUP_COMMIT_MAX = 64;

async function one(c: Sql, sql: string, values: unknown[]): Promise<IntermediateRecord | undefined> {
  const row = (await c.query<IntermediateRow>(sql, values)).rows[0];
  return row && toIntermediate(row);
}

/** Intermediates in PostgreSQL; issuance and supersession commit in one transaction. */
export function postgresIntermediateStore(db: PgDb): IntermediateStore {
  const q = db.sql;
  const byIdempotencyKey = (c: Sql, cluster: string, key: string) => one(c, `${INTERMEDIATE_SELECT} WHERE i.cluster = $1 AND i.idempotency_key = $2`, [cluster, key]);

  const issue = async (c: Sql, rec: IntermediateRecord, audit: AuditInput, cursor?: ChainCursor) => {
    if (rec.idempotencyKey !== null) {
      const earlier = await byIdempotencyKey(c, rec.cluster, rec.idempotencyKey);
      if (earlier) return { record: earlier, created: false };
    }
    // The generation check and the supersession in one round trip (the audit lock is held): the
    // active one is superseded only if the cluster's newest generation is still the one the record
    // follows. A prepared intermediate (root rotation) waits beside the active one; an active one replaces it.
    // The insert is a statement of its own, so that the one-active index sees the supersession.
    const { g } = (
      await c.query<{ g: number }>(
        `WITH prev AS (SELECT COALESCE(MAX(generation), 0) AS g FROM intermediates WHERE cluster = $1),
         sup AS (UPDATE intermediates SET status = 'superseded' WHERE cluster = $1 AND status = 'active' AND $3 AND (SELECT g FROM prev) = $2 - 1 RETURNING 1)
         SELECT g FROM prev, (SELECT COUNT(*) FROM sup) s`,
        [rec.cluster, rec.generation, rec.status === "active"],
      )
    ).rows[0]!;
    if (g !== rec.generation - 1) {
      throw new DomainError("rotation_in_progress", `another issuance for cluster ${rec.cluster} committed generation ${g || null} first; retry to issue the next one`);
    }
    await c.query(
      `INSERT INTO intermediates (serial, cluster, trust_domain, root_serial, generation, status, custody, key_algorithm, cert_pem, sealed_key,
         fingerprint_sha256, not_before, not_after, rotate_after, supersedes, revoked_at, revocation_reason, idempotency_key, request_hash, created_at, subject, key_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
      [rec.serial, rec.cluster, rec.trustDomain, rec.rootSerial, rec.generation, rec.status, rec.custody, rec.keyAlgorithm, rec.certPem,
        rec.sealedKey && Buffer.from(rec.sealedKey), rec.fingerprintSha256, rec.notBefore.getTime(), rec.notAfter.getTime(), rec.rotateAfter.getTime(),
        rec.supersedes, rec.revokedAt?.getTime() ?? null, rec.revocationReason, rec.idempotencyKey, rec.requestHash, rec.createdAt.getTime(),
        rec.subject ?? null, rec.keyId ?? null],
    );
    await appendAudit(c, audit, cursor);
    return { record: rec, created: true };
  };

  // Group commit: issuances that arrive while a batch commits share the next transaction, so one
  // audit-lock acquisition and one commit (one WAL flush) serve them all; with every audited write
  // serialised on that lock, this is what lets issuance scale past one commit at a time. A batch
  // is one statement, meshroot_issue_chained (migration 0003): under the lock it checks each item
  // against the rows as they are, writes it and chains its audit event, whose canonical text the
  // process sends in three parts around the head-dependent prevHash and seq. The lock is held for
  // that statement and its commit only, never across a round trip, so another replica waits for
  // the database alone. Items refused by the checks are answered with their error and do not undo
  // the others; should the statement fail, the batch is retried one item at a time with a
  // savepoint each. Callers are answered after the commit.
  type Item = { ok: true; value: { record: IntermediateRecord; created: boolean } } | { ok: false; error: unknown };
  type Pending = { rec: IntermediateRecord; audit: AuditInput; resolve: (r: { record: IntermediateRecord; created: boolean }) => void; reject: (e: unknown) => void };
  const queue: Pending[] = [];
  let flushing = false;
  const conflict = (err: unknown, rec: IntermediateRecord) =>
    isUniqueViolation(err) ? new DomainError("rotation_in_progress", `another issuance for cluster ${rec.cluster} is in progress; retry`) : err;
  const generationMoved = (rec: IntermediateRecord, g: number) =>
    new DomainError("rotation_in_progress", `another issuance for cluster ${rec.cluster} committed generation ${g || null} first; retry to issue the next one`);

  /** The batch in one statement, or undefined when an event's text cannot be split around prevHash and seq. */
  const chained = async (items: Pending[]): Promise<Item[] | undefined> => {
    const parts = items.map((it) => splitEventText(it.audit));
    if (parts.some((x) => x === undefined)) return undefined;
    const col = <T,>(f: (r: IntermediateRecord) => T) => items.map((it) => f(it.rec));
    const { rows } = await db.sql.query<{ outcome: "created" | "replay" | "generation" | "prepared"; detail: string | null }>(
      {
        name: "meshroot_issue_chained",
        text: `SELECT outcome, detail FROM meshroot_issue_chained($1::bigint, $2::text, $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[], $9::text[],
           $10::text[], $11::text[], $12::bytea[], $13::text[], $14::bigint[], $15::bigint[], $16::bigint[], $17::text[], $18::bigint[], $19::text[], $20::text[],
           $21::text[], $22::bigint[], $23::text[], $24::text[], $25::text[], $26::text[], $27::text[], $28::bigint[], $29::text, $30::text[])`,
      } as unknown as string,
      [
        AUDIT_LOCK.toString(), GENESIS_HASH,
        col((r) => r.serial), col((r) => r.cluster), col((r) => r.trustDomain), col((r) => r.rootSerial), col((r) => r.generation),
        col((r) => r.status), col((r) => r.custody), col((r) => r.keyAlgorithm), col((r) => r.certPem), col((r) => (r.sealedKey ? Buffer.from(r.sealedKey) : null)),
        col((r) => r.fingerprintSha256), col((r) => r.notBefore.getTime()), col((r) => r.notAfter.getTime()), col((r) => r.rotateAfter.getTime()),
        col((r) => r.supersedes), col((r) => r.revokedAt?.getTime() ?? null), col((r) => r.revocationReason), col((r) => r.idempotencyKey),
        col((r) => r.requestHash), col((r) => r.createdAt.getTime()), col((r) => r.subject ?? null), col((r) => r.keyId ?? null),
        parts.map((x) => x!.head), parts.map((x) => x!.mid), parts.map((x) => x!.tail), items.map((it) => it.audit.at.getTime()),
        CHANGE_CHANNEL, items.map((it) => it.audit.trustDomain ?? ""),
      ],
    );
    // An item replaying an earlier one of this batch gets that record; an older one is read (committed by now).
    const created = new Map<string, IntermediateRecord>();
    const out: Item[] = [];
    for (const [i, { rec }] of items.entries()) {
      const row = rows[i]!;
      if (row.outcome === "created") {
        created.set(rec.serial, rec);
        out.push({ ok: true, value: { record: rec, created: true } });
      } else if (row.outcome === "replay") {
        const earlier = created.get(row.detail!) ?? (await byIdempotencyKey(db.sql, rec.cluster, rec.idempotencyKey!));
        out.push(earlier ? { ok: true, value: { record: earlier, created: false } } : { ok: false, error: new DomainError("rotation_in_progress", `another issuance for cluster ${rec.cluster} is in progress; retry`) });
      } else if (row.outcome === "generation") {
        out.push({ ok: false, error: generationMoved(rec, Number(row.detail)) });
      } else {
        // A second prepared one beside the waiting one: what the one-prepared index would refuse.
        out.push({ ok: false, error: conflict({ code: "23505" }, rec) });
      }
    }
    return out;
  };

  /** The batch one item at a time, each under its own savepoint: one refusal does not undo the others. */
  const oneByOne = (items: Pending[]) =>
    db.tx(async (c) => {
      const out: Item[] = [];
      // The head is read once; an item rolled back to its savepoint never moved it (the audit insert is its last step).
      const cursor: ChainCursor = { head: await readChainHead(c) };
      await c.query("SAVEPOINT issue");
      for (const [i, it] of items.entries()) {
        try {
          out.push({ ok: true, value: await issue(c, it.rec, it.audit, cursor) });
          if (i < items.length - 1) await c.query("RELEASE SAVEPOINT issue; SAVEPOINT issue");
        } catch (error) {
          await c.query("ROLLBACK TO SAVEPOINT issue");
          out.push({ ok: false, error });
        }
      }
      return out;
    });

  const flush = async () => {
    while (queue.length > 0) {
      const items = queue.splice(0, GROUP_COMMIT_MAX);
      let results: Item[];
      try {
        try {
          results = (await chained(items)) ?? (await oneByOne(items));
        } catch (error) {
          // Nothing of the batch committed: a lost database fails it; anything else is retried item by item.
          if (isUnavailable(error) || (error instanceof DomainError && error.code === "database_unavailable")) throw error;
          results = await oneByOne(items);
        }
      } catch (error) {
        for (const it of items) it.reject(error);
        continue;
      }
      results.forEach((r, i) => (r.ok ? items[i]!.resolve(r.value) : items[i]!.reject(conflict(r.error, items[i]!.rec))));
    }
    flushing = false;
  };

  return {
    async listCertificates(filter, now, p) {
      const clauses: string[] = [];
      const params: unknown[] = [];
      const bind = (v: unknown) => (params.push(v), `$${params.length}`);
      if (filter.cluster) clauses.push(`i.cluster = ${bind(filter.cluster)}`);
      if (filter.trustDomain) clauses.push(`i.trust_domain = ${bind(filter.trustDomain)}`);
      if (filter.expiresBefore) clauses.push(`i.not_after < ${bind(filter.expiresBefore.getTime())}`);
      if (filter.issuedAfter) clauses.push(`i.created_at > ${bind(filter.issuedAfter.getTime())}`);
      if (filter.status) {
        clauses.push(
          filter.status === "revoked"
            ? "i.status = 'revoked'"
            : filter.status === "expired"
              ? `i.status <> 'revoked' AND i.not_after <= ${bind(now.getTime())}`
              : `i.status = ${bind(filter.status)} AND i.not_after > ${bind(now.getTime())}`,
        );
      }
      if (p.after) {
        const created = bind(p.after.createdAt);
        clauses.push(`(i.created_at < ${created} OR (i.created_at = ${created} AND i.serial < ${bind(p.after.serial)}))`);
      }
      const where = clauses.length ? `WHERE ${clauses.join(" AND ")}` : "";
      const { rows } = await q.query<IntermediateRow>(`${INTERMEDIATE_SELECT} ${where} ORDER BY i.created_at DESC, i.serial DESC LIMIT ${bind(p.limit)}`, params);
      return rows.map(toIntermediate);
    },
    insertIntermediate(record, audit) {
      return new Promise((resolve, reject) => {
        queue.push({ rec: record, audit, resolve, reject });
        // The first batch starts once this turn of the event loop is done, with whatever else it queued.
        if (!flushing) {
          flushing = true;
          setImmediate(() => void flush());
        }
      });
    },
    async activateIntermediate(serial, previous, audit) {
      const moved = () => new DomainError("rotation_in_progress", `intermediate ${serial} or its cluster's active one changed meanwhile; read them again`);
      try {
        return await db.tx(async (c) => {
          if (previous !== null) {
            if ((await c.query("UPDATE intermediates SET status = 'superseded' WHERE serial = $1 AND status = 'active'", [previous])).rowCount !== 1) throw moved();
          } else if ((await c.query("SELECT 1 FROM intermediates WHERE cluster = (SELECT cluster FROM intermediates WHERE serial = $1) AND status = 'active'", [serial])).rowCount !== 0) {
            throw moved();
          }
          if ((await c.query("UPDATE intermediates SET status = 'active', supersedes = $2 WHERE serial = $1 AND status = 'prepared'", [serial, previous])).rowCount !== 1) throw moved();
          await appendAudit(c, audit);
          return (await one(c, `${INTERMEDIATE_SELECT} WHERE i.serial = $1`, [serial]))!;
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw moved();
        throw err;
      }
    },
    getIntermediate: (serial) => one(db.read, `${INTERMEDIATE_SELECT} WHERE i.serial = $1`, [serial]),
    getIntermediateByIdempotencyKey: (cluster, key) => byIdempotencyKey(db.read, cluster, key),
    getActiveIntermediate: (cluster) => one(db.read, `${INTERMEDIATE_SELECT} WHERE i.cluster = $1 AND i.status = 'active'`, [cluster]),
    getLatestIntermediate: (cluster) => one(db.read, `${INTERMEDIATE_SELECT} WHERE i.cluster = $1 ORDER BY i.generation DESC LIMIT 1`, [cluster]),
    async countIntermediatesSince(cluster, since) {
      return (await db.read.query<{ n: number }>("SELECT COUNT(*) AS n FROM intermediates WHERE cluster = $1 AND created_at > $2", [cluster, since.getTime()])).rows[0]!.n;
    },
    async listIntermediates(cluster, p) {
      const before = p.after === undefined ? Number.MAX_SAFE_INTEGER : Number(p.after);
      const { rows } = await q.query<IntermediateRow>(
        `${INTERMEDIATE_SELECT} WHERE i.cluster = $1 AND i.generation < $2 ORDER BY i.generation DESC LIMIT $3`,
        [cluster, Math.min(before, 2 ** 31 - 1), p.limit],
      );
      return rows.map(toIntermediate);
    },
  };
}

import type { CrlRecord, CrlStore, LiveIssuer } from "../../core/ports.js";
import { DomainError } from "../../errors.js";
import { appendAudit } from "./audit-store.js";
import { INTERMEDIATE_SELECT, toIntermediate, type IntermediateRow } from "../rows.js";
import { isUniqueViolation, type PgDb, type Sql } from "./pool.js";

interface CrlRow {
  issuer_serial: string;
  issuer_kind: CrlRecord["issuerKind"];
  trust_domain: string;
  seq: number;
  crl_number: number | null;
  this_update: number;
  next_update: number;
  entries: number;
  der: Buffer;
  uploaded: boolean;
  created_at: number;
}

const toCrl = (r: CrlRow): CrlRecord => ({
  issuerSerial: r.issuer_serial,
  issuerKind: r.issuer_kind,
  trustDomain: r.trust_domain,
  seq: r.seq,
  crlNumber: r.crl_number,
  thisUpdate: new Date(r.this_update),
  nextUpdate: new Date(r.next_update),
  entries: r.entries,
  der: new Uint8Array(r.der),
  uploaded: r.uploaded,
  createdAt: new Date(r.created_at),
});

/**
 * Inserts a CRL inside the caller's transaction; throws `crl_conflict` when another CRL of the
 * same issuer took its seq first (the primary key: CRL numbers only grow, across replicas too).
 * A unique violation aborts the transaction, so the caller's transaction ends with it.
 */
export async function insertCrlRow(c: Sql, crl: CrlRecord): Promise<void> {
  try {
    await c.query(
      `INSERT INTO crls (issuer_serial, issuer_kind, trust_domain, seq, crl_number, this_update, next_update, entries, der, uploaded, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [crl.issuerSerial, crl.issuerKind, crl.trustDomain, crl.seq, crl.crlNumber, crl.thisUpdate.getTime(), crl.nextUpdate.getTime(), crl.entries,
        Buffer.from(crl.der), crl.uploaded, crl.createdAt.getTime()],
    );
  } catch (err) {
    if (isUniqueViolation(err)) throw new DomainError("crl_conflict", `another CRL of ${crl.issuerSerial} was committed first`);
    throw err;
  }
}

/** CRLs in PostgreSQL, and the intermediates they list or are signed by. */
export function postgresCrlStore(db: PgDb): CrlStore {
  const q = db.sql;
  return {
    async latestCrls(issuerSerials) {
      const out = new Map<string, CrlRecord>();
      if (issuerSerials.length === 0) return out;
      const { rows } = await q.query<CrlRow>("SELECT DISTINCT ON (issuer_serial) * FROM crls WHERE issuer_serial = ANY($1::text[]) ORDER BY issuer_serial, seq DESC", [
        [...issuerSerials],
      ]);
      for (const r of rows) out.set(r.issuer_serial, toCrl(r));
      return out;
    },
    async insertCrls(crls) {
      if (crls.length === 0) return [];
      // A seq another writer took first is skipped, not an error. The audit lock (though nothing is
      // audited) keeps this from waiting on a locked writer's CRL while holding one it waits for.
      return db.tx(
        async (c) => {
          const inserted: CrlRecord[] = [];
          for (const crl of crls) {
            const r = await c.query(
              `INSERT INTO crls (issuer_serial, issuer_kind, trust_domain, seq, crl_number, this_update, next_update, entries, der, uploaded, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (issuer_serial, seq) DO NOTHING`,
              [crl.issuerSerial, crl.issuerKind, crl.trustDomain, crl.seq, crl.crlNumber, crl.thisUpdate.getTime(), crl.nextUpdate.getTime(), crl.entries,
                Buffer.from(crl.der), crl.uploaded, crl.createdAt.getTime()],
            );
            if (r.rowCount === 1) inserted.push(crl);
          }
          return inserted;
        },
      );
    },
    async getLatestCrl(issuerSerial) {
      const row = (await q.query<CrlRow>("SELECT * FROM crls WHERE issuer_serial = $1 ORDER BY seq DESC LIMIT 1", [issuerSerial])).rows[0];
      return row && toCrl(row);
    },
    async insertCrl(crl, audit) {
      await db.tx(async (c) => {
        await insertCrlRow(c, crl);
        if (audit) await appendAudit(c, audit);
      });
    },
    async listRevokedByRoot(rootSerial) {
      const { rows } = await q.query<{ serial: string; revoked_at: number; revocation_reason: string }>(
        "SELECT serial, revoked_at, revocation_reason FROM intermediates WHERE root_serial = $1 AND status = 'revoked' ORDER BY revoked_at, serial",
        [rootSerial],
      );
      return rows.map((r) => ({ serial: r.serial, revokedAt: new Date(r.revoked_at), reason: r.revocation_reason }));
    },
    async listLiveIntermediates(trustDomain, now) {
      const { rows } = await q.query<IntermediateRow>(
        `${INTERMEDIATE_SELECT} WHERE i.trust_domain = $1 AND i.status <> 'revoked' AND i.not_after > $2 ORDER BY i.cluster, i.generation`,
        [trustDomain, now.getTime()],
      );
      return rows.map(toIntermediate);
    },
    async listLiveIssuers(trustDomain, now) {
      const { rows } = await q.query<Omit<LiveIssuer, "notAfter" | "signingSeenAt"> & { notAfter: number; signingSeenAt: number | null }>(
        `SELECT serial, cluster, root_serial AS "rootSerial", status, custody, key_id AS "keyId", not_after AS "notAfter", generation,
           signing_seen_at AS "signingSeenAt"
         FROM intermediates WHERE trust_domain = $1 AND not_after > $2 AND status <> 'revoked'`,
        [trustDomain, now.getTime()],
      );
      return rows.map((r) => ({ ...r, notAfter: new Date(r.notAfter), signingSeenAt: r.signingSeenAt === null ? null : new Date(r.signingSeenAt) }));
    },
    async listIntermediatesNeedingCrl(trustDomain, now, freshAfter, page) {
      const { rows } = await q.query<IntermediateRow>(
        `${INTERMEDIATE_SELECT} WHERE i.trust_domain = $1 AND i.status <> 'revoked' AND i.not_after > $2 AND i.custody = 'escrowed'
           AND i.serial > $3
           AND NOT EXISTS (SELECT 1 FROM crls c WHERE c.issuer_serial = i.serial AND c.this_update > $4 AND c.next_update > $2)
         ORDER BY i.serial LIMIT $5`,
        [trustDomain, now.getTime(), page.after ?? "", freshAfter.getTime(), page.limit],
      );
      return rows.map(toIntermediate);
    },
  };
}

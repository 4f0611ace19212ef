import type { AuditInput } from "../../core/audit.js";
import type { CrlRecord, CrlStore, LiveIssuer } from "../../core/ports.js";
import type { AuditAppender } from "./audit-store.js";
import { DomainError, isDomainError } from "../../errors.js";
import { isUniqueViolation, type Db } from "./database.js";
import { INTERMEDIATE_SELECT, toIntermediate, type IntermediateRow } from "../rows.js";

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
  uploaded: number;
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
  uploaded: r.uploaded === 1,
  createdAt: new Date(r.created_at),
});

/**
 * Inserts a CRL inside the caller's transaction; throws `crl_conflict` when another CRL of the
 * same issuer took its seq first. Shared with revocation, which commits a root CRL with it.
 */
export function crlInserter(db: Db): (crl: CrlRecord) => void {
  const insert = db.prepare(`INSERT INTO crls (issuer_serial, issuer_kind, trust_domain, seq, crl_number, this_update, next_update,
      entries, der, uploaded, created_at)
    VALUES (@issuerSerial, @issuerKind, @trustDomain, @seq, @crlNumber, @thisUpdate, @nextUpdate, @entries, @der, @uploaded, @createdAt)`);
  return (crl) => {
    try {
      insert.run({
        ...crl,
        thisUpdate: crl.thisUpdate.getTime(),
        nextUpdate: crl.nextUpdate.getTime(),
        der: Buffer.from(crl.der),
        uploaded: crl.uploaded ? 1 : 0,
        createdAt: crl.createdAt.getTime(),
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new DomainError("crl_conflict", `another CRL of ${crl.issuerSerial} was committed first`);
      throw err;
    }
  };
}

/** CRLs in SQLite, and the intermediates they list or are signed by. */
export function sqliteCrlStore(db: Db, append: AuditAppender): CrlStore {
  const latest = db.prepare("SELECT * FROM crls WHERE issuer_serial = ? ORDER BY seq DESC LIMIT 1");
  const revokedByRoot = db.prepare(
    "SELECT serial, revoked_at, revocation_reason FROM intermediates WHERE root_serial = ? AND status = 'revoked' ORDER BY revoked_at, serial",
  );
  const needingCrl = db.prepare(
    `${INTERMEDIATE_SELECT} WHERE i.trust_domain = @trustDomain AND i.status <> 'revoked' AND i.not_after > @now AND i.custody = 'escrowed'
       AND i.serial > @after
       AND NOT EXISTS (SELECT 1 FROM crls c WHERE c.issuer_serial = i.serial AND c.this_update > @freshAfter AND c.next_update > @now)
     ORDER BY i.serial LIMIT @limit`,
  );
  const live = db.prepare(
    `${INTERMEDIATE_SELECT} WHERE i.trust_domain = @trustDomain AND i.status <> 'revoked' AND i.not_after > @now ORDER BY i.cluster, i.generation`,
  );
  // Covered by intermediates_issuers: no row (certificate, sealed key) is read.
  const liveIssuers = db.prepare(`SELECT serial, cluster, root_serial AS rootSerial, status, custody, key_id AS keyId, not_after AS notAfter,
      generation, signing_seen_at AS signingSeenAt
    FROM intermediates INDEXED BY intermediates_issuers WHERE trust_domain = @trustDomain AND not_after > @now AND status <> 'revoked'`);
  const latestStatements = new Map<number, ReturnType<Db["prepare"]>>();
  const latestOf = (n: number) => {
    let st = latestStatements.get(n);
    if (!st) {
      st = db.prepare(
        `SELECT c.* FROM crls c WHERE c.issuer_serial IN (${Array(n).fill("?").join(",")})
           AND c.seq = (SELECT MAX(seq) FROM crls m WHERE m.issuer_serial = c.issuer_serial)`,
      );
      if (latestStatements.size < 64) latestStatements.set(n, st);
    }
    return st;
  };
  const insertCrl = crlInserter(db);
  const insertTx = db.transaction((crl: CrlRecord, audit: AuditInput | null) => {
    insertCrl(crl);
    if (audit) append(audit);
  });

  const insertMany = db.transaction((crls: readonly CrlRecord[]) =>
    crls.filter((crl) => {
      try {
        insertCrl(crl);
        return true;
      } catch (err) {
        if (isDomainError(err, "crl_conflict")) return false;
        throw err;
      }
    }),
  );

  return {
    async latestCrls(issuerSerials) {
      const out = new Map<string, CrlRecord>();
      // One statement per 500 serials (SQLite's default limit on bound parameters is 32,766).
      for (let i = 0; i < issuerSerials.length; i += 500) {
        const chunk = issuerSerials.slice(i, i + 500);
        const rows = latestOf(chunk.length).all(chunk) as CrlRow[];
        for (const r of rows) out.set(r.issuer_serial, toCrl(r));
      }
      return out;
    },
    async insertCrls(crls) {
      return crls.length === 0 ? [] : insertMany.immediate(crls);
    },
    async getLatestCrl(issuerSerial) {
      const row = latest.get(issuerSerial) as CrlRow | undefined;
      return row && toCrl(row);
    },
    async insertCrl(crl, audit) {
      insertTx.immediate(crl, audit);
    },
    async listRevokedByRoot(rootSerial) {
      // Raw rows from the covering index: a root CRL can hold 100,000 entries.
      return (revokedByRoot.raw(true).all(rootSerial) as [string, number, string][]).map(([serial, at, reason]) => ({
        serial,
        revokedAt: new Date(at),
        reason,
      }));
    },
    async listLiveIntermediates(trustDomain, now) {
      return (live.all({ trustDomain, now: now.getTime() }) as IntermediateRow[]).map(toIntermediate);
    },
    async listLiveIssuers(trustDomain, now) {
      const rows = liveIssuers.all({ trustDomain, now: now.getTime() }) as (Omit<LiveIssuer, "notAfter" | "signingSeenAt"> & { notAfter: number; signingSeenAt: number | null })[];
      return rows.map((r) => ({ ...r, notAfter: new Date(r.notAfter), signingSeenAt: r.signingSeenAt === null ? null : new Date(r.signingSeenAt) }));
    },
    async listIntermediatesNeedingCrl(trustDomain, now, freshAfter, page) {
      const rows = needingCrl.all({ trustDomain, now: now.getTime(), freshAfter: freshAfter.getTime(), after: page.after ?? "", limit: page.limit });
      return (rows as IntermediateRow[]).map(toIntermediate);
    },
  };
}

import type { AuditInput } from "../../core/audit.js";
import type { CrlRecord, CrlStore, Revocation } from "../../core/ports.js";
import type { AuditAppender } from "./audit-store.js";
import { DomainError } from "../../errors.js";
import { toCluster, type ClusterRow } from "./cluster-store.js";
import { isUniqueViolation, type Db } from "./database.js";
import { INTERMEDIATE_SELECT, toIntermediate, type IntermediateRow } from "./intermediate-store.js";

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

/** CRLs, revocation and decommissioning in SQLite. */
export function sqliteCrlStore(db: Db, append: AuditAppender): CrlStore {
  const latest = db.prepare("SELECT * FROM crls WHERE issuer_serial = ? ORDER BY seq DESC LIMIT 1");
  const insert = db.prepare(`INSERT INTO crls (issuer_serial, issuer_kind, trust_domain, seq, crl_number, this_update, next_update,
      entries, der, uploaded, created_at)
    VALUES (@issuerSerial, @issuerKind, @trustDomain, @seq, @crlNumber, @thisUpdate, @nextUpdate, @entries, @der, @uploaded, @createdAt)`);
  const intermediate = db.prepare(`${INTERMEDIATE_SELECT} WHERE i.serial = ?`);
  const revoke = db.prepare(
    "UPDATE intermediates SET status = 'revoked', revoked_at = @at, revocation_reason = @reason WHERE serial = @serial AND status <> 'revoked'",
  );
  const cluster = db.prepare("SELECT * FROM clusters WHERE name = ?");
  const decommission = db.prepare("UPDATE clusters SET decommissioned_at = @at, updated_at = @at WHERE name = @name AND decommissioned_at IS NULL");
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
  const dueSql = `${INTERMEDIATE_SELECT} JOIN clusters c ON c.name = i.cluster
    WHERE i.status = 'active' AND i.rotate_after <= @before AND c.decommissioned_at IS NULL`;
  const due = db.prepare(`${dueSql} ORDER BY i.rotate_after, i.cluster`);
  const dueInDomain = db.prepare(`${dueSql} AND i.trust_domain = @trustDomain ORDER BY i.rotate_after, i.cluster`);
  const activeAll = db.prepare(`${INTERMEDIATE_SELECT} JOIN clusters c ON c.name = i.cluster
    WHERE i.status = 'active' AND c.decommissioned_at IS NULL ORDER BY i.cluster`);
  const revokedClustersSql = `SELECT c.* FROM clusters c WHERE c.decommissioned_at IS NULL
    AND NOT EXISTS (SELECT 1 FROM intermediates i WHERE i.cluster = c.name AND i.status = 'active')
    AND EXISTS (SELECT 1 FROM intermediates i WHERE i.cluster = c.name AND i.status = 'revoked')`;
  const revokedClusters = db.prepare(`${revokedClustersSql} ORDER BY c.name`);
  const revokedClustersInDomain = db.prepare(`${revokedClustersSql} AND c.trust_domain = @trustDomain ORDER BY c.name`);

  const crlParams = (crl: CrlRecord) => ({
    ...crl,
    thisUpdate: crl.thisUpdate.getTime(),
    nextUpdate: crl.nextUpdate.getTime(),
    der: Buffer.from(crl.der),
    uploaded: crl.uploaded ? 1 : 0,
    createdAt: crl.createdAt.getTime(),
  });

  const insertCrl = (crl: CrlRecord) => {
    try {
      insert.run(crlParams(crl));
    } catch (err) {
      if (isUniqueViolation(err)) throw new DomainError("crl_conflict", `another CRL of ${crl.issuerSerial} was committed first`);
      throw err;
    }
  };

  const applyRevocation = (r: Revocation) => {
    const row = intermediate.get(r.serial) as IntermediateRow | undefined;
    if (!row) throw new DomainError("certificate_not_found", `no intermediate has serial ${r.serial}`);
    if (row.status === "revoked") throw new DomainError("already_revoked", `intermediate ${r.serial} was already revoked at ${new Date(row.revoked_at!).toISOString()}`);
    revoke.run({ serial: r.serial, at: r.revokedAt.getTime(), reason: r.reason });
    insertCrl(r.crl);
    return toIntermediate(intermediate.get(r.serial) as IntermediateRow);
  };

  const insertCrlTx = db.transaction((crl: CrlRecord, audit: AuditInput | null) => {
    insertCrl(crl);
    if (audit) append(audit);
  });
  const revokeTx = db.transaction((r: Revocation, audit: AuditInput) => {
    const rec = applyRevocation(r);
    append(audit);
    return rec;
  });
  const decommissionTx = db.transaction((name: string, at: Date, r: Revocation | undefined, audit: AuditInput) => {
    if (decommission.run({ name, at: at.getTime() }).changes === 0) {
      throw new DomainError("cluster_decommissioned", `cluster ${name} is already decommissioned`);
    }
    if (r) applyRevocation(r);
    append(audit);
    return toCluster(cluster.get(name) as ClusterRow);
  });

  return {
    async getLatestCrl(issuerSerial) {
      const row = latest.get(issuerSerial) as CrlRow | undefined;
      return row && toCrl(row);
    },
    async insertCrl(crl, audit) {
      insertCrlTx.immediate(crl, audit);
    },
    async revokeIntermediate(r, audit) {
      return revokeTx.immediate(r, audit);
    },
    async decommissionCluster(name, at, r, audit) {
      return decommissionTx.immediate(name, at, r, audit);
    },
    async listRevokedByRoot(rootSerial) {
      // Raw rows from the covering index: a root CRL can hold 100,000 entries.
      return (revokedByRoot.raw(true).all(rootSerial) as [string, number, string][]).map(([serial, at, reason]) => ({
        serial,
        revokedAt: new Date(at),
        reason,
      }));
    },
    async listIntermediatesNeedingCrl(trustDomain, now, freshAfter, page) {
      const rows = needingCrl.all({ trustDomain, now: now.getTime(), freshAfter: freshAfter.getTime(), after: page.after ?? "", limit: page.limit });
      return (rows as IntermediateRow[]).map(toIntermediate);
    },
    async listLiveIntermediates(trustDomain, now) {
      return (live.all({ trustDomain, now: now.getTime() }) as IntermediateRow[]).map(toIntermediate);
    },
    async listDueIntermediates(before, trustDomain) {
      const rows = trustDomain ? dueInDomain.all({ before: before.getTime(), trustDomain }) : due.all({ before: before.getTime() });
      return (rows as IntermediateRow[]).map(toIntermediate);
    },
    async listActiveIntermediates() {
      return (activeAll.all() as IntermediateRow[]).map(toIntermediate);
    },
    async listRevokedClusters(trustDomain) {
      const rows = trustDomain ? revokedClustersInDomain.all({ trustDomain }) : revokedClusters.all();
      return (rows as ClusterRow[]).map(toCluster);
    },
  };
}

import type { AuditInput } from "../../core/audit.js";
import type { Revocation, RevocationStore } from "../../core/ports.js";
import type { AuditAppender } from "./audit-store.js";
import { DomainError } from "../../errors.js";
import { toCluster, type ClusterRow } from "./cluster-store.js";
import { crlInserter } from "./crl-store.js";
import type { Db } from "./database.js";
import { INTERMEDIATE_SELECT, toIntermediate, type IntermediateRow } from "../rows.js";

/** Revocation and decommissioning in SQLite: each commits with the root CRL that lists it. */
export function sqliteRevocationStore(db: Db, append: AuditAppender): RevocationStore {
  const intermediate = db.prepare(`${INTERMEDIATE_SELECT} WHERE i.serial = ?`);
  const revoke = db.prepare(
    "UPDATE intermediates SET status = 'revoked', revoked_at = @at, revocation_reason = @reason WHERE serial = @serial AND status <> 'revoked'",
  );
  const cluster = db.prepare("SELECT * FROM clusters WHERE name = ?");
  const decommission = db.prepare("UPDATE clusters SET decommissioned_at = @at, updated_at = @at WHERE name = @name AND decommissioned_at IS NULL");
  const insertCrl = crlInserter(db);

  const applyRevocation = (r: Revocation) => {
    const row = intermediate.get(r.serial) as IntermediateRow | undefined;
    if (!row) throw new DomainError("certificate_not_found", `no intermediate has serial ${r.serial}`);
    if (row.status === "revoked") throw new DomainError("already_revoked", `intermediate ${r.serial} was already revoked at ${new Date(row.revoked_at!).toISOString()}`);
    revoke.run({ serial: r.serial, at: r.revokedAt.getTime(), reason: r.reason });
    insertCrl(r.crl);
    return toIntermediate(intermediate.get(r.serial) as IntermediateRow);
  };

  const revokeTx = db.transaction((r: Revocation, audit: AuditInput) => {
    const rec = applyRevocation(r);
    append(audit);
    return rec;
  });
  const decommissionTx = db.transaction((name: string, at: Date, r: Revocation | undefined, audit: AuditInput) => {
    if (decommission.run({ name, at: at.getTime() }).changes === 0) {
      if (!cluster.get(name)) throw new DomainError("cluster_not_found", `cluster ${name} does not exist`);
      throw new DomainError("cluster_decommissioned", `cluster ${name} is already decommissioned`);
    }
    if (r) applyRevocation(r);
    append(audit);
    return toCluster(cluster.get(name) as ClusterRow);
  });

  return {
    async revokeIntermediate(r, audit) {
      return revokeTx.immediate(r, audit);
    },
    async decommissionCluster(name, at, r, audit) {
      return decommissionTx.immediate(name, at, r, audit);
    },
  };
}

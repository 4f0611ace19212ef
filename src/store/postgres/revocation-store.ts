import type { Revocation, RevocationStore } from "../../core/ports.js";
import { DomainError } from "../../errors.js";
import { appendAudit } from "./audit-store.js";
import { toCluster, type ClusterRow } from "./cluster-store.js";
import { insertCrlRow } from "./crl-store.js";
import { INTERMEDIATE_SELECT, toIntermediate, type IntermediateRow } from "../rows.js";
import type { PgDb, Sql } from "./pool.js";

/** Revocation and decommissioning in PostgreSQL: each commits with the root CRL that lists it. */
export function postgresRevocationStore(db: PgDb): RevocationStore {
  const intermediate = async (c: Sql, serial: string) => (await c.query<IntermediateRow>(`${INTERMEDIATE_SELECT} WHERE i.serial = $1`, [serial])).rows[0];

  const applyRevocation = async (c: Sql, r: Revocation) => {
    const row = await intermediate(c, r.serial);
    if (!row) throw new DomainError("certificate_not_found", `no intermediate has serial ${r.serial}`);
    if (row.status === "revoked") throw new DomainError("already_revoked", `intermediate ${r.serial} was already revoked at ${new Date(row.revoked_at!).toISOString()}`);
    await c.query("UPDATE intermediates SET status = 'revoked', revoked_at = $2, revocation_reason = $3 WHERE serial = $1 AND status <> 'revoked'", [
      r.serial,
      r.revokedAt.getTime(),
      r.reason,
    ]);
    await insertCrlRow(c, r.crl);
    return toIntermediate((await intermediate(c, r.serial))!);
  };

  return {
    async revokeIntermediate(r, audit) {
      return db.tx(async (c) => {
        const rec = await applyRevocation(c, r);
        await appendAudit(c, audit);
        return rec;
      });
    },
    async decommissionCluster(name, at, r, audit) {
      return db.tx(async (c) => {
        const moved = await c.query("UPDATE clusters SET decommissioned_at = $2, updated_at = $2 WHERE name = $1 AND decommissioned_at IS NULL", [name, at.getTime()]);
        if (moved.rowCount === 0) {
          if ((await c.query("SELECT 1 FROM clusters WHERE name = $1", [name])).rowCount === 0) throw new DomainError("cluster_not_found", `cluster ${name} does not exist`);
          throw new DomainError("cluster_decommissioned", `cluster ${name} is already decommissioned`);
        }
        if (r) await applyRevocation(c, r);
        await appendAudit(c, audit);
        return toCluster((await c.query<ClusterRow>("SELECT * FROM clusters WHERE name = $1", [name])).rows[0]!);
      });
    },
  };
}

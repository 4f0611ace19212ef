import type { ClusterRecord, ClusterStore } from "../../core/ports.js";
import { DomainError } from "../../errors.js";
import { appendAudit } from "./audit-store.js";
import { isUniqueViolation, type PgDb } from "./pool.js";
import { toDate } from "../rows.js";

export interface ClusterRow {
  name: string;
  trust_domain: string;
  labels: Record<string, string>;
  key_algorithm: ClusterRecord["policy"]["keyAlgorithm"];
  validity_days: number;
  renew_before_days: number | null;
  created_at: number;
  updated_at: number;
  decommissioned_at: number | null;
}

export const toCluster = (r: ClusterRow): ClusterRecord => ({
  name: r.name,
  trustDomain: r.trust_domain,
  labels: r.labels,
  policy: { keyAlgorithm: r.key_algorithm, validityDays: r.validity_days, renewBeforeDays: r.renew_before_days },
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
  decommissionedAt: toDate(r.decommissioned_at),
});

/** Clusters in PostgreSQL. */
export function postgresClusterStore(db: PgDb): ClusterStore {
  const q = db.sql;
  return {
    async createCluster(c, audit) {
      try {
        await db.tx(async (t) => {
          await t.query(
            `INSERT INTO clusters (name, trust_domain, labels, key_algorithm, validity_days, renew_before_days, created_at, updated_at, decommissioned_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
            [c.name, c.trustDomain, JSON.stringify(c.labels), c.policy.keyAlgorithm, c.policy.validityDays, c.policy.renewBeforeDays,
              c.createdAt.getTime(), c.updatedAt.getTime(), c.decommissionedAt?.getTime() ?? null],
          );
          await appendAudit(t, audit);
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new DomainError("cluster_exists", `cluster ${c.name} already exists`);
        throw err;
      }
    },
    async getCluster(name) {
      const row = (await db.read.query<ClusterRow>("SELECT * FROM clusters WHERE name = $1", [name])).rows[0];
      return row && toCluster(row);
    },
    async listClusters(page, filter) {
      const { rows } = filter.trustDomain
        ? await q.query<ClusterRow>(`SELECT * FROM clusters WHERE trust_domain = $1 AND name > $2 ORDER BY name LIMIT $3`, [filter.trustDomain, page.after ?? "", page.limit])
        : await q.query<ClusterRow>(`SELECT * FROM clusters WHERE name > $1 ORDER BY name LIMIT $2`, [page.after ?? "", page.limit]);
      return rows.map(toCluster);
    },
    async updateCluster(name, patch, audit) {
      return db.tx(async (t) => {
        const row = (await t.query<ClusterRow>("SELECT * FROM clusters WHERE name = $1", [name])).rows[0];
        if (!row) throw new DomainError("cluster_not_found", `cluster ${name} does not exist`);
        const next: ClusterRecord = { ...toCluster(row), ...patch };
        await t.query(
          "UPDATE clusters SET labels = $2, key_algorithm = $3, validity_days = $4, renew_before_days = $5, updated_at = $6 WHERE name = $1",
          [name, JSON.stringify(next.labels), next.policy.keyAlgorithm, next.policy.validityDays, next.policy.renewBeforeDays, next.updatedAt.getTime()],
        );
        await appendAudit(t, audit);
        return next;
      });
    },
  };
}

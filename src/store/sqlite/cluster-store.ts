import type { AuditInput } from "../../core/audit.js";
import type { ClusterRecord, ClusterStore } from "../../core/ports.js";
import type { AuditAppender } from "./audit-store.js";
import { DomainError } from "../../errors.js";
import { isUniqueViolation, type Db } from "./database.js";
import { toDate } from "../rows.js";

export interface ClusterRow {
  name: string;
  trust_domain: string;
  labels: string;
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
  labels: JSON.parse(r.labels) as Record<string, string>,
  policy: { keyAlgorithm: r.key_algorithm, validityDays: r.validity_days, renewBeforeDays: r.renew_before_days },
  createdAt: new Date(r.created_at),
  updatedAt: new Date(r.updated_at),
  decommissionedAt: toDate(r.decommissioned_at),
});

const toParams = (c: ClusterRecord) => ({
  name: c.name,
  trustDomain: c.trustDomain,
  labels: JSON.stringify(c.labels),
  keyAlgorithm: c.policy.keyAlgorithm,
  validityDays: c.policy.validityDays,
  renewBeforeDays: c.policy.renewBeforeDays,
  createdAt: c.createdAt.getTime(),
  updatedAt: c.updatedAt.getTime(),
  decommissionedAt: c.decommissionedAt?.getTime() ?? null,
});

/** Clusters in SQLite. */
export function sqliteClusterStore(db: Db, append: AuditAppender): ClusterStore {
  const insert = db.prepare(`INSERT INTO clusters (name, trust_domain, labels, key_algorithm, validity_days, renew_before_days,
      created_at, updated_at, decommissioned_at)
    VALUES (@name, @trustDomain, @labels, @keyAlgorithm, @validityDays, @renewBeforeDays, @createdAt, @updatedAt, @decommissionedAt)`);
  const select = db.prepare("SELECT * FROM clusters WHERE name = ?");
  const selectPage = db.prepare("SELECT * FROM clusters WHERE name > @after ORDER BY name LIMIT @limit");
  const selectPageInDomain = db.prepare(
    "SELECT * FROM clusters WHERE trust_domain = @trustDomain AND name > @after ORDER BY name LIMIT @limit",
  );
  const update = db.prepare(`UPDATE clusters SET labels = @labels, key_algorithm = @keyAlgorithm, validity_days = @validityDays,
      renew_before_days = @renewBeforeDays, updated_at = @updatedAt WHERE name = @name`);

  const insertTx = db.transaction((cluster: ClusterRecord, audit: AuditInput) => {
    insert.run(toParams(cluster));
    append(audit);
  });

  const updateTx = db.transaction((name: string, patch: Parameters<ClusterStore["updateCluster"]>[1], audit: AuditInput) => {
    const row = select.get(name) as ClusterRow | undefined;
    if (!row) throw new DomainError("cluster_not_found", `cluster ${name} does not exist`);
    const next: ClusterRecord = { ...toCluster(row), ...patch };
    update.run(toParams(next));
    append(audit);
    return next;
  });

  return {
    async createCluster(cluster, audit) {
      try {
        insertTx.immediate(cluster, audit);
      } catch (err) {
        if (isUniqueViolation(err)) throw new DomainError("cluster_exists", `cluster ${cluster.name} already exists`);
        throw err;
      }
    },
    async getCluster(name) {
      const row = select.get(name) as ClusterRow | undefined;
      return row && toCluster(row);
    },
    async listClusters(page, filter) {
      const params = { after: page.after ?? "", limit: page.limit };
      const rows = (
        filter.trustDomain ? selectPageInDomain.all({ ...params, trustDomain: filter.trustDomain }) : selectPage.all(params)
      ) as ClusterRow[];
      return rows.map(toCluster);
    },
    async updateCluster(name, patch, audit) {
      return updateTx.immediate(name, patch, audit);
    },
  };
}

import type { FleetQueries, IntermediateRecord } from "../../core/ports.js";
import { toCluster, type ClusterRow } from "./cluster-store.js";
import type { Db } from "./database.js";
import { INTERMEDIATE_SELECT, toIntermediate, type IntermediateRow } from "./intermediate-store.js";

/** The scheduler's and the metrics' questions about the whole fleet, in SQLite. */
export function sqliteFleetQueries(db: Db): FleetQueries {
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
  // Named clusters arrive as one JSON array parameter (json_each): one statement per batch.
  const activeOf = db.prepare(`${INTERMEDIATE_SELECT} WHERE i.status = 'active' AND i.cluster IN (SELECT value FROM json_each(?))`);
  const latestOf = db.prepare(`${INTERMEDIATE_SELECT}
    JOIN (SELECT cluster, MAX(generation) AS g FROM intermediates WHERE cluster IN (SELECT value FROM json_each(?)) GROUP BY cluster) m
      ON m.cluster = i.cluster AND m.g = i.generation`);
  const revokedClustersInDomain = db.prepare(`${revokedClustersSql} AND c.trust_domain = @trustDomain ORDER BY c.name`);

  return {
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
    async activeAndLatestIntermediates(clusters) {
      const out = new Map<string, { active: IntermediateRecord | undefined; latest: IntermediateRecord | undefined }>();
      if (clusters.length === 0) return out;
      const names = JSON.stringify(clusters);
      for (const row of latestOf.all(names) as IntermediateRow[]) out.set(row.cluster, { active: undefined, latest: toIntermediate(row) });
      for (const row of activeOf.all(names) as IntermediateRow[]) {
        const active = toIntermediate(row);
        const entry = out.get(row.cluster);
        // The active one is usually the newest: share the record.
        out.set(row.cluster, { active: entry?.latest?.serial === active.serial ? entry.latest : active, latest: entry?.latest ?? active });
      }
      return out;
    },
  };
}

import type { FleetQueries, IntermediateSummary } from "../../core/ports.js";
import { toCluster, type ClusterRow } from "./cluster-store.js";
import type { Db } from "./database.js";
import { INTERMEDIATE_SELECT, toIntermediate, type IntermediateRow } from "../rows.js";

/** A summary row: the record without key bytes, the certificate only when the subject is missing. */
function toSummary(row: IntermediateRow): IntermediateSummary {
  const { sealedKey: _sealed, certPem, ...rest } = toIntermediate(row as IntermediateRow);
  return { ...rest, certPem: certPem ?? null };
}

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
  // Summaries: no sealed key, the certificate only where the subject was never stored.
  const SUMMARY_SELECT = `SELECT i.serial, i.cluster, i.trust_domain, i.root_serial, i.generation, i.status, i.custody, i.key_algorithm,
      i.fingerprint_sha256, i.not_before, i.not_after, i.rotate_after, i.supersedes, i.revoked_at, i.revocation_reason,
      i.idempotency_key, i.request_hash, i.created_at, i.subject, i.key_id, i.signing_seen_at,
      CASE WHEN i.subject IS NULL THEN i.cert_pem END AS cert_pem, NULL AS sealed_key,
      (SELECT n.serial FROM intermediates n WHERE n.supersedes = i.serial) AS superseded_by
    FROM intermediates i`;
  const activeOf = db.prepare(`${SUMMARY_SELECT} WHERE i.status = 'active' AND i.cluster IN (SELECT value FROM json_each(?))`);
  const latestOf = db.prepare(`${SUMMARY_SELECT}
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
      const out = new Map<string, { active: IntermediateSummary | undefined; latest: IntermediateSummary | undefined }>();
      if (clusters.length === 0) return out;
      const names = JSON.stringify(clusters);
      for (const row of latestOf.all(names) as IntermediateRow[]) out.set(row.cluster, { active: undefined, latest: toSummary(row) });
      for (const row of activeOf.all(names) as IntermediateRow[]) {
        const active = toSummary(row);
        const entry = out.get(row.cluster);
        // The active one is usually the newest: share the record.
        out.set(row.cluster, { active: entry?.latest?.serial === active.serial ? entry.latest : active, latest: entry?.latest ?? active });
      }
      return out;
    },
  };
}

import type { FleetQueries, IntermediateSummary } from "../../core/ports.js";
import { toCluster, type ClusterRow } from "./cluster-store.js";
import { INTERMEDIATE_SELECT, toIntermediate, type IntermediateRow } from "../rows.js";
import type { PgDb } from "./pool.js";

/** A summary row: the record without key bytes, the certificate only when the subject is missing. */
function toSummary(row: IntermediateRow): IntermediateSummary {
  const { sealedKey: _sealed, certPem, ...rest } = toIntermediate(row);
  return { ...rest, certPem: certPem ?? null };
}

// Summaries: no sealed key, the certificate only where the subject was never stored.
const SUMMARY_SELECT = `SELECT i.serial, i.cluster, i.trust_domain, i.root_serial, i.generation, i.status, i.custody, i.key_algorithm,
    i.fingerprint_sha256, i.not_before, i.not_after, i.rotate_after, i.supersedes, i.revoked_at, i.revocation_reason,
    i.idempotency_key, i.request_hash, i.created_at, i.subject, i.key_id, i.signing_seen_at,
    CASE WHEN i.subject IS NULL THEN i.cert_pem END AS cert_pem, NULL::bytea AS sealed_key,
    (SELECT n.serial FROM intermediates n WHERE n.supersedes = i.serial) AS superseded_by
  FROM intermediates i`;

const REVOKED_CLUSTERS = `SELECT c.* FROM clusters c WHERE c.decommissioned_at IS NULL
  AND NOT EXISTS (SELECT 1 FROM intermediates i WHERE i.cluster = c.name AND i.status = 'active')
  AND EXISTS (SELECT 1 FROM intermediates i WHERE i.cluster = c.name AND i.status = 'revoked')`;

/** The scheduler's and the metrics' questions about the whole fleet, in PostgreSQL. */
export function postgresFleetQueries(db: PgDb): FleetQueries {
  const q = db.sql;
  const dueSql = `${INTERMEDIATE_SELECT} JOIN clusters c ON c.name = i.cluster
    WHERE i.status = 'active' AND i.rotate_after <= $1 AND c.decommissioned_at IS NULL`;
  return {
    async listDueIntermediates(before, trustDomain) {
      const { rows } = trustDomain
        ? await q.query<IntermediateRow>(`${dueSql} AND i.trust_domain = $2 ORDER BY i.rotate_after, i.cluster`, [before.getTime(), trustDomain])
        : await q.query<IntermediateRow>(`${dueSql} ORDER BY i.rotate_after, i.cluster`, [before.getTime()]);
      return rows.map(toIntermediate);
    },
    async listActiveIntermediates() {
      const { rows } = await q.query<IntermediateRow>(`${INTERMEDIATE_SELECT} JOIN clusters c ON c.name = i.cluster
        WHERE i.status = 'active' AND c.decommissioned_at IS NULL ORDER BY i.cluster`);
      return rows.map(toIntermediate);
    },
    async listRevokedClusters(trustDomain) {
      const { rows } = trustDomain
        ? await q.query<ClusterRow>(`${REVOKED_CLUSTERS} AND c.trust_domain = $1 ORDER BY c.name`, [trustDomain])
        : await q.query<ClusterRow>(`${REVOKED_CLUSTERS} ORDER BY c.name`);
      return rows.map(toCluster);
    },
    async activeAndLatestIntermediates(clusters) {
      const out = new Map<string, { active: IntermediateSummary | undefined; latest: IntermediateSummary | undefined }>();
      if (clusters.length === 0) return out;
      const names = [...clusters];
      const latest = await q.query<IntermediateRow>(
        `${SUMMARY_SELECT} JOIN (SELECT cluster, MAX(generation) AS g FROM intermediates WHERE cluster = ANY($1::text[]) GROUP BY cluster) m
           ON m.cluster = i.cluster AND m.g = i.generation`,
        [names],
      );
      for (const row of latest.rows) out.set(row.cluster, { active: undefined, latest: toSummary(row) });
      const active = await q.query<IntermediateRow>(`${SUMMARY_SELECT} WHERE i.status = 'active' AND i.cluster = ANY($1::text[])`, [names]);
      for (const row of active.rows) {
        const a = toSummary(row);
        const entry = out.get(row.cluster);
        // The active one is usually the newest: share the record.
        out.set(row.cluster, { active: entry?.latest?.serial === a.serial ? entry.latest : a, latest: entry?.latest ?? a });
      }
      return out;
    },
  };
}

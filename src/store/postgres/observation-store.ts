import type { ObservationRecord, ObservationStore, ObservationSummary, ObservedFacts, StoredObservation } from "../../core/ports.js";
import { DomainError } from "../../errors.js";
import { appendAudit } from "./audit-store.js";
import type { PgDb } from "./pool.js";

interface ObservationRow {
  id: number;
  cluster: string;
  observed_at: number;
  root_cert_pem: string;
  ca_cert_pem: string | null;
  crl_pem: string | null;
  istio_version: string | null;
  multi_root: boolean | null;
  ambient: boolean | null;
  source: ObservationRecord["source"];
  facts: ObservedFacts | null;
}

type SummaryRow = Omit<ObservationRow, "root_cert_pem" | "ca_cert_pem" | "crl_pem">;

const toSummary = (r: SummaryRow): ObservationSummary => ({
  id: r.id,
  cluster: r.cluster,
  observedAt: new Date(r.observed_at),
  istioVersion: r.istio_version,
  multiRoot: r.multi_root,
  ambient: r.ambient,
  source: r.source,
  facts: r.facts,
});

const toObservation = (r: ObservationRow): StoredObservation => {
  const { facts, ...summary } = toSummary(r);
  return { ...summary, rootCertPem: r.root_cert_pem, caCertPem: r.ca_cert_pem, crlPem: r.crl_pem, facts: facts as ObservedFacts };
};

/** Observations of what clusters loaded, in PostgreSQL: history by insertion order. */
export function postgresObservationStore(db: PgDb): ObservationStore {
  const q = db.sql;
  return {
    async insertObservation(o, audit) {
      return toObservation(
        await db.tx(async (c) => {
          if ((await c.query("SELECT 1 FROM clusters WHERE name = $1", [o.cluster])).rowCount === 0) throw new DomainError("cluster_not_found", `cluster ${o.cluster} does not exist`);
          const { rows } = await c.query<ObservationRow>(
            `INSERT INTO observations (cluster, observed_at, root_cert_pem, ca_cert_pem, crl_pem, istio_version, multi_root, ambient, source, facts)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
            [o.cluster, o.observedAt.getTime(), o.rootCertPem, o.caCertPem, o.crlPem, o.istioVersion, o.multiRoot, o.ambient, o.source, JSON.stringify(o.facts)],
          );
          if (o.facts.caCert) {
            await c.query("UPDATE intermediates SET signing_seen_at = $1 WHERE cluster = $2 AND fingerprint_sha256 = $3 AND signing_seen_at IS NULL", [
              o.observedAt.getTime(),
              o.cluster,
              o.facts.caCert.fingerprintSha256,
            ]);
          }
          await appendAudit(c, audit);
          return rows[0]!;
        }),
      );
    },
    async latestObservation(name) {
      const row = (await q.query<ObservationRow>("SELECT * FROM observations WHERE cluster = $1 ORDER BY id DESC LIMIT 1", [name])).rows[0];
      return row && toObservation(row);
    },
    async listObservations(name, p) {
      const after = p.after === undefined ? Number.MAX_SAFE_INTEGER : Number(p.after);
      const { rows } = await q.query<ObservationRow>("SELECT * FROM observations WHERE cluster = $1 AND id < $2 ORDER BY id DESC LIMIT $3", [name, after, p.limit]);
      return rows.map(toObservation);
    },
    async latestObservationSummaries(clusters) {
      const out = new Map<string, ObservationSummary>();
      if (clusters.length === 0) return out;
      const { rows } = await q.query<SummaryRow>(
        `SELECT o.id, o.cluster, o.observed_at, o.istio_version, o.multi_root, o.ambient, o.source, o.facts FROM observations o
         JOIN (SELECT cluster, MAX(id) AS id FROM observations WHERE cluster = ANY($1::text[]) GROUP BY cluster) m ON m.id = o.id`,
        [[...clusters]],
      );
      for (const row of rows) out.set(row.cluster, toSummary(row));
      return out;
    },
  };
}

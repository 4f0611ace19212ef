import type { AuditInput } from "../../core/audit.js";
import type { ObservationRecord, ObservationStore, ObservationSummary, ObservedFacts, StoredObservation } from "../../core/ports.js";
import { DomainError } from "../../errors.js";
import type { AuditAppender } from "./audit-store.js";
import type { Db } from "./database.js";

interface ObservationRow {
  id: number;
  cluster: string;
  observed_at: number;
  root_cert_pem: string;
  ca_cert_pem: string | null;
  crl_pem: string | null;
  istio_version: string | null;
  multi_root: number | null;
  ambient: number | null;
  source: ObservationRecord["source"];
  facts: string | null;
}

const flag = (v: number | null) => (v === null ? null : v === 1);
const bit = (v: boolean | null) => (v === null ? null : v ? 1 : 0);

type SummaryRow = Omit<ObservationRow, "root_cert_pem" | "ca_cert_pem" | "crl_pem">;

const toSummary = (r: SummaryRow): ObservationSummary => ({
  id: r.id,
  cluster: r.cluster,
  observedAt: new Date(r.observed_at),
  istioVersion: r.istio_version,
  multiRoot: flag(r.multi_root),
  ambient: flag(r.ambient),
  source: r.source,
  facts: r.facts === null ? null : (JSON.parse(r.facts) as ObservedFacts),
});

// Rows stored before migration 0011 have no facts: the core parses their PEM texts (observedFacts).
const toObservation = (r: ObservationRow): StoredObservation => {
  const { facts, ...summary } = toSummary(r);
  return { ...summary, rootCertPem: r.root_cert_pem, caCertPem: r.ca_cert_pem, crlPem: r.crl_pem, facts: facts as ObservedFacts };
};

/** Observations of what clusters loaded, in SQLite: history by insertion order. */
export function sqliteObservationStore(db: Db, append: AuditAppender): ObservationStore {
  const insert = db.prepare(`INSERT INTO observations (cluster, observed_at, root_cert_pem, ca_cert_pem, crl_pem, istio_version, multi_root, ambient, source, facts)
    VALUES (@cluster, @observedAt, @rootCertPem, @caCertPem, @crlPem, @istioVersion, @multiRoot, @ambient, @source, @facts)`);
  const cluster = db.prepare("SELECT 1 FROM clusters WHERE name = ?");
  const byId = db.prepare("SELECT * FROM observations WHERE id = ?");
  const latest = db.prepare("SELECT * FROM observations WHERE cluster = ? ORDER BY id DESC LIMIT 1");
  const summaries = db.prepare(`SELECT o.id, o.cluster, o.observed_at, o.istio_version, o.multi_root, o.ambient, o.source, o.facts FROM observations o
    JOIN (SELECT cluster, MAX(id) AS id FROM observations WHERE cluster IN (SELECT value FROM json_each(?)) GROUP BY cluster) m ON m.id = o.id`);
  const page = db.prepare("SELECT * FROM observations WHERE cluster = @cluster AND id < @after ORDER BY id DESC LIMIT @limit");

  const seenSigning = db.prepare("UPDATE intermediates SET signing_seen_at = @at WHERE cluster = @cluster AND fingerprint_sha256 = @fingerprint AND signing_seen_at IS NULL");

  const insertTx = db.transaction((o: ObservationRecord, audit: AuditInput) => {
    if (!cluster.get(o.cluster)) throw new DomainError("cluster_not_found", `cluster ${o.cluster} does not exist`);
    const { lastInsertRowid } = insert.run({ ...o, observedAt: o.observedAt.getTime(), multiRoot: bit(o.multiRoot), ambient: bit(o.ambient), facts: JSON.stringify(o.facts) });
    if (o.facts.caCert) seenSigning.run({ at: o.observedAt.getTime(), cluster: o.cluster, fingerprint: o.facts.caCert.fingerprintSha256 });
    append(audit);
    return byId.get(lastInsertRowid) as ObservationRow;
  });

  return {
    async insertObservation(o, audit) {
      return toObservation(insertTx.immediate(o, audit));
    },
    async latestObservation(name) {
      const row = latest.get(name) as ObservationRow | undefined;
      return row && toObservation(row);
    },
    async listObservations(name, p) {
      const after = p.after === undefined ? Number.MAX_SAFE_INTEGER : Number(p.after);
      return (page.all({ cluster: name, after, limit: p.limit }) as ObservationRow[]).map(toObservation);
    },
    async latestObservationSummaries(clusters) {
      const out = new Map<string, ObservationSummary>();
      if (clusters.length === 0) return out;
      for (const row of summaries.all(JSON.stringify(clusters)) as SummaryRow[]) out.set(row.cluster, toSummary(row));
      return out;
    },
  };
}

import type { AuditCheckpoint } from "../../core/audit-checkpoint.js";
import type { AuditStore } from "../../core/ports.js";
import type { PgDb } from "./pool.js";

type CheckpointPorts = Pick<AuditStore, "auditHead" | "latestAuditSeq" | "auditHashAt" | "insertAuditCheckpoint" | "latestAuditCheckpoint" | "listRowsWithoutCreationEvent">;

/** The chain head, checkpoints of it, and the rows-without-creation-event cross-check, in PostgreSQL. */
export function postgresAuditCheckpointStore(db: PgDb): CheckpointPorts {
  const q = db.sql;
  return {
    async auditHead() {
      const { rows } = await q.query<{ seq: number; hash: string }>("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1");
      return rows[0];
    },
    async latestAuditSeq(actions) {
      if (actions.length === 0) return 0;
      // One index probe per action (audit_by_action).
      const { rows } = await q.query<{ seq: number | null }>(
        "SELECT MAX(m) AS seq FROM unnest($1::text[]) AS a(action), LATERAL (SELECT MAX(seq) AS m FROM audit_events e WHERE e.action = a.action) x",
        [actions],
      );
      return rows[0]?.seq ?? 0;
    },
    async auditHashAt(seq) {
      const { rows } = await q.query<{ hash: string }>("SELECT hash FROM audit_events WHERE seq = $1", [seq]);
      return rows[0]?.hash;
    },
    async insertAuditCheckpoint(c: AuditCheckpoint) {
      await q.query("INSERT INTO audit_checkpoints (seq, hash, at, mac) VALUES ($1, $2, $3, $4)", [c.seq, c.hash, c.at.getTime(), c.mac]);
    },
    async latestAuditCheckpoint() {
      const { rows } = await q.query<{ seq: number; hash: string; at: number; mac: string }>("SELECT seq, hash, at, mac FROM audit_checkpoints ORDER BY seq DESC, id DESC LIMIT 1");
      const r = rows[0];
      return r && { seq: r.seq, hash: r.hash, at: new Date(r.at), mac: r.mac };
    },
    async listRowsWithoutCreationEvent() {
      const { rows } = await q.query<{ kind: "token" | "intermediate"; id: string }>(`
        SELECT 'token' AS kind, id FROM api_tokens t
          WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.action = 'token.create' AND e.target_id = t.id)
        UNION ALL
        SELECT 'intermediate' AS kind, serial AS id FROM intermediates i
          WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.action IN ('intermediate.issue', 'intermediate.rotate', 'intermediate.prepare') AND e.target_id = i.serial)
        ORDER BY kind, id`);
      return rows;
    },
  };
}

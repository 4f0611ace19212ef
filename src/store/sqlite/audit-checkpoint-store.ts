import type { AuditCheckpoint } from "../../core/audit-checkpoint.js";
import type { AuditStore } from "../../core/ports.js";
import type { Db } from "./database.js";

type CheckpointPorts = Pick<AuditStore, "auditHead" | "latestAuditSeq" | "auditHashAt" | "insertAuditCheckpoint" | "latestAuditCheckpoint" | "listRowsWithoutCreationEvent">;

/** The chain head, checkpoints of it, and the rows-without-creation-event cross-check, in SQLite. */
export function sqliteAuditCheckpointStore(db: Db): CheckpointPorts {
  const head = db.prepare("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1");
  const hashAt = db.prepare("SELECT hash FROM audit_events WHERE seq = ?").pluck();
  // One index probe per action (audit_by_action).
  const latestOf = db.prepare("SELECT MAX(seq) FROM audit_events WHERE action = ?").pluck();
  const insert = db.prepare("INSERT INTO audit_checkpoints (seq, hash, at, mac) VALUES (@seq, @hash, @at, @mac)");
  const latest = db.prepare("SELECT seq, hash, at, mac FROM audit_checkpoints ORDER BY seq DESC, id DESC LIMIT 1");
  // target_id and action are generated from the hashed event text, so they are what the chain protects.
  const orphans = db.prepare(`
    SELECT 'token' AS kind, id FROM api_tokens t
      WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.action = 'token.create' AND e.target_id = t.id)
    UNION ALL
    SELECT 'intermediate' AS kind, serial AS id FROM intermediates i
      WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.action IN ('intermediate.issue', 'intermediate.rotate', 'intermediate.prepare') AND e.target_id = i.serial)
    ORDER BY kind, id`);
  return {
    async auditHead() {
      return head.get() as { seq: number; hash: string } | undefined;
    },
    async latestAuditSeq(actions) {
      let seq = 0;
      for (const action of actions) seq = Math.max(seq, (latestOf.get(action) as number | null) ?? 0);
      return seq;
    },
    async auditHashAt(seq) {
      return hashAt.get(seq) as string | undefined;
    },
    async insertAuditCheckpoint(c: AuditCheckpoint) {
      insert.run({ seq: c.seq, hash: c.hash, at: c.at.getTime(), mac: c.mac });
    },
    async latestAuditCheckpoint() {
      const r = latest.get() as { seq: number; hash: string; at: number; mac: string } | undefined;
      return r && { seq: r.seq, hash: r.hash, at: new Date(r.at), mac: r.mac };
    },
    async listRowsWithoutCreationEvent() {
      return orphans.all() as { kind: "token" | "intermediate"; id: string }[];
    },
  };
}

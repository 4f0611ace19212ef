import type { RootRotationRecord, RootRotationStore, RotationPhase } from "../../core/ports.js";
import { DomainError } from "../../errors.js";
import { appendAudit } from "./audit-store.js";
import { isUniqueViolation, violatedConstraint, type PgDb, type Sql } from "./pool.js";
import { insertRoot } from "./trust-domain-store.js";

interface RotationRow {
  id: number;
  trust_domain: string;
  old_root: string;
  new_root: string;
  phase: RotationPhase;
  history: { phase: RotationPhase; at: number }[];
  workload_cert_ttl: number;
  revoke_old_root: boolean;
  last_switch_at: number | null;
  started_at: number;
  finished_at: number | null;
}

const toRotation = (r: RotationRow): RootRotationRecord => ({
  id: r.id,
  trustDomain: r.trust_domain,
  oldRoot: r.old_root,
  newRoot: r.new_root,
  phase: r.phase,
  history: r.history.map((h) => ({ phase: h.phase, at: new Date(h.at) })),
  workloadCertTtlMs: r.workload_cert_ttl,
  revokeOldRoot: r.revoke_old_root,
  lastSwitchAt: r.last_switch_at === null ? null : new Date(r.last_switch_at),
  startedAt: new Date(r.started_at),
  finishedAt: r.finished_at === null ? null : new Date(r.finished_at),
});

const conflict = (what: string) => new DomainError("root_rotation_conflict", `${what} changed while this step was prepared; read the rotation again and retry`);

const byId = async (c: Sql, id: number) => (await c.query<RotationRow>("SELECT * FROM root_rotations WHERE id = $1", [id])).rows[0];

/** Root rotations in PostgreSQL: each step (phase, root statuses, intermediate moves, audit) is one transaction. */
export function postgresRootRotationStore(db: PgDb): RootRotationStore {
  return {
    async latestRootRotation(trustDomain) {
      const row = (await db.read.query<RotationRow>("SELECT * FROM root_rotations WHERE trust_domain = $1 ORDER BY id DESC LIMIT 1", [trustDomain])).rows[0];
      return row && toRotation(row);
    },
    async startRootRotation(root, rotation, audit) {
      try {
        return toRotation(
          await db.tx(async (c) => {
            await insertRoot(c, root);
            const { rows } = await c.query<RotationRow>(
              `INSERT INTO root_rotations (trust_domain, old_root, new_root, phase, history, workload_cert_ttl, revoke_old_root, last_switch_at, started_at, finished_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, NULL) RETURNING *`,
              [rotation.trustDomain, rotation.oldRoot, rotation.newRoot, rotation.phase, JSON.stringify(rotation.history.map((h) => ({ phase: h.phase, at: h.at.getTime() }))),
                rotation.workloadCertTtlMs, rotation.revokeOldRoot, rotation.startedAt.getTime()],
            );
            await appendAudit(c, audit);
            return rows[0]!;
          }),
        );
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // Two starts at once: the open-rotation index, or the new root's generation, is taken.
        if (/root_rotations|roots_trust_domain_generation/.test(violatedConstraint(err))) {
          throw new DomainError("root_rotation_in_progress", `trust domain ${rotation.trustDomain} already has a root rotation in progress`);
        }
        throw new DomainError("root_in_use", "this root certificate is already stored; a root can serve only one trust domain, once");
      }
    },
    async applyRootRotation(ch, audit) {
      try {
        return toRotation(
          await db.tx(async (c) => {
            const row = await byId(c, ch.id);
            if (!row || row.phase !== ch.fromPhase) throw conflict("the rotation's phase");
            const history = [...row.history];
            if (ch.toPhase !== ch.fromPhase) history.push({ phase: ch.toPhase, at: ch.at.getTime() });
            const moved = await c.query(
              `UPDATE root_rotations SET phase = $3, history = $4, last_switch_at = COALESCE($5, last_switch_at), finished_at = $6
               WHERE id = $1 AND phase = $2`,
              [ch.id, ch.fromPhase, ch.toPhase, JSON.stringify(history), ch.lastSwitchAt?.getTime() ?? null, ch.finished ? ch.at.getTime() : row.finished_at],
            );
            if (moved.rowCount !== 1) throw conflict("the rotation's phase");
            for (const r of ch.rootStatuses ?? []) await c.query("UPDATE roots SET status = $1 WHERE serial = $2", [r.status, r.serial]);
            for (const m of ch.intermediates ?? []) {
              const done = await c.query(
                "UPDATE intermediates SET status = $3, supersedes = CASE WHEN $4 THEN $5 ELSE supersedes END WHERE serial = $1 AND status = $2",
                [m.serial, m.from, m.to, m.supersedes !== undefined, m.supersedes ?? null],
              );
              if (done.rowCount !== 1) throw conflict(`intermediate ${m.serial}`);
            }
            await appendAudit(c, audit);
            return (await byId(c, ch.id))!;
          }),
        );
      } catch (err) {
        // One active (and one prepared) intermediate per cluster: a concurrent issuance got there first.
        if (isUniqueViolation(err)) throw conflict("a cluster's intermediates");
        throw err;
      }
    },
  };
}

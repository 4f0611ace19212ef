import type { AuditInput } from "../../core/audit.js";
import type { RootRecord, RootRotationChange, RootRotationRecord, RootRotationStore, RotationPhase } from "../../core/ports.js";
import { DomainError } from "../../errors.js";
import type { AuditAppender } from "./audit-store.js";
import { isUniqueViolation, type Db } from "./database.js";

interface RotationRow {
  id: number;
  trust_domain: string;
  old_root: string;
  new_root: string;
  phase: RotationPhase;
  history: string;
  workload_cert_ttl: number;
  revoke_old_root: number;
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
  history: (JSON.parse(r.history) as { phase: RotationPhase; at: number }[]).map((h) => ({ phase: h.phase, at: new Date(h.at) })),
  workloadCertTtlMs: r.workload_cert_ttl,
  revokeOldRoot: r.revoke_old_root === 1,
  lastSwitchAt: r.last_switch_at === null ? null : new Date(r.last_switch_at),
  startedAt: new Date(r.started_at),
  finishedAt: r.finished_at === null ? null : new Date(r.finished_at),
});

const conflict = (what: string) => new DomainError("root_rotation_conflict", `${what} changed while this step was prepared; read the rotation again and retry`);

/** Root rotations in SQLite: each step (phase, root statuses, intermediate moves, audit) is one transaction. */
export function sqliteRootRotationStore(db: Db, append: AuditAppender): RootRotationStore {
  const latest = db.prepare("SELECT * FROM root_rotations WHERE trust_domain = ? ORDER BY id DESC LIMIT 1");
  const byId = db.prepare("SELECT * FROM root_rotations WHERE id = ?");
  const insertRoot = db.prepare(`INSERT INTO roots (serial, trust_domain, generation, status, imported, key_algorithm, key_id,
      cert_pem, key_ref, fingerprint_sha256, not_before, not_after, created_at)
    VALUES (@serial, @trustDomain, @generation, @status, @imported, @keyAlgorithm, @keyId,
      @certPem, @keyRef, @fingerprintSha256, @notBefore, @notAfter, @createdAt)`);
  const insertRotation = db.prepare(`INSERT INTO root_rotations (trust_domain, old_root, new_root, phase, history, workload_cert_ttl, revoke_old_root, last_switch_at, started_at, finished_at)
    VALUES (@trustDomain, @oldRoot, @newRoot, @phase, @history, @workloadCertTtl, @revokeOldRoot, NULL, @startedAt, NULL)`);
  const movePhase = db.prepare(`UPDATE root_rotations SET phase = @to, history = @history,
      last_switch_at = COALESCE(@lastSwitchAt, last_switch_at), finished_at = @finishedAt
    WHERE id = @id AND phase = @from`);
  const setRootStatus = db.prepare("UPDATE roots SET status = ? WHERE serial = ?");
  const moveIntermediate = db.prepare("UPDATE intermediates SET status = @to, supersedes = CASE WHEN @setSupersedes THEN @supersedes ELSE supersedes END WHERE serial = @serial AND status = @from");

  const start = db.transaction((root: RootRecord, rotation: Omit<RootRotationRecord, "id">, audit: AuditInput) => {
    insertRoot.run({ ...root, imported: root.imported ? 1 : 0, notBefore: root.notBefore.getTime(), notAfter: root.notAfter.getTime(), createdAt: root.createdAt.getTime() });
    const { lastInsertRowid } = insertRotation.run({
      trustDomain: rotation.trustDomain,
      oldRoot: rotation.oldRoot,
      newRoot: rotation.newRoot,
      phase: rotation.phase,
      history: JSON.stringify(rotation.history.map((h) => ({ phase: h.phase, at: h.at.getTime() }))),
      workloadCertTtl: rotation.workloadCertTtlMs,
      revokeOldRoot: rotation.revokeOldRoot ? 1 : 0,
      startedAt: rotation.startedAt.getTime(),
    });
    append(audit);
    return byId.get(lastInsertRowid) as RotationRow;
  });

  const apply = db.transaction((c: RootRotationChange, audit: AuditInput) => {
    const row = byId.get(c.id) as RotationRow | undefined;
    if (!row || row.phase !== c.fromPhase) throw conflict("the rotation's phase");
    const history = JSON.parse(row.history) as { phase: RotationPhase; at: number }[];
    if (c.toPhase !== c.fromPhase) history.push({ phase: c.toPhase, at: c.at.getTime() });
    const moved = movePhase.run({
      id: c.id,
      from: c.fromPhase,
      to: c.toPhase,
      history: JSON.stringify(history),
      lastSwitchAt: c.lastSwitchAt?.getTime() ?? null,
      finishedAt: c.finished ? c.at.getTime() : row.finished_at,
    });
    if (moved.changes !== 1) throw conflict("the rotation's phase");
    for (const r of c.rootStatuses ?? []) setRootStatus.run(r.status, r.serial);
    for (const m of c.intermediates ?? []) {
      const done = moveIntermediate.run({ serial: m.serial, from: m.from, to: m.to, setSupersedes: m.supersedes === undefined ? 0 : 1, supersedes: m.supersedes ?? null });
      if (done.changes !== 1) throw conflict(`intermediate ${m.serial}`);
    }
    append(audit);
    return byId.get(c.id) as RotationRow;
  });

  return {
    async latestRootRotation(trustDomain) {
      const row = latest.get(trustDomain) as RotationRow | undefined;
      return row && toRotation(row);
    },
    async startRootRotation(root, rotation, audit) {
      try {
        return toRotation(start.immediate(root, rotation, audit));
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // Two starts at once: the open-rotation index, or the new root's generation, is taken.
        if (/root_rotations|roots\.trust_domain|roots\.generation/.test(String((err as Error).message))) {
          throw new DomainError("root_rotation_in_progress", `trust domain ${rotation.trustDomain} already has a root rotation in progress`);
        }
        throw new DomainError("root_in_use", "this root certificate is already stored; a root can serve only one trust domain, once");
      }
    },
    async applyRootRotation(change, audit) {
      try {
        return toRotation(apply.immediate(change, audit));
      } catch (err) {
        // One active (and one prepared) intermediate per cluster: a concurrent issuance got there first.
        if (isUniqueViolation(err)) throw conflict("a cluster's intermediates");
        throw err;
      }
    },
  };
}

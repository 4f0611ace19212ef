import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { CHAIN_START, combineVerdicts, verifyChain, type ChainLink, type ChainVerdict, type StoredAuditEvent } from "../../core/audit.js";
import type { Db } from "./database.js";

/**
 * Audit chain verification over SQLite. Reading a million events and hashing them takes a few
 * seconds on one core, so a large chain in a database file is cut into stretches by seq, each
 * verified by a worker thread on its own read-only connection from the stored event before it,
 * and the verdicts combined (the result equals one pass over the whole chain; tests hold them equal).
 */

/** One stretch of the chain: events with lo < seq <= hi (null: unbounded). */
export interface Stretch {
  lo: number | null;
  hi: number | null;
}

/** From this many events on, a file database is verified in parallel. */
export const PARALLEL_FROM_EVENTS = 100_000;

/** Verifies the events of one stretch, starting from the stored event before it. */
export function verifyStretch(db: Db, { lo, hi }: Stretch): ChainVerdict {
  const start: ChainLink =
    lo === null ? CHAIN_START : ((db.prepare("SELECT seq, hash FROM audit_events WHERE seq <= ? ORDER BY seq DESC LIMIT 1").get(lo) as ChainLink | undefined) ?? CHAIN_START);
  const where = [lo === null ? null : "seq > @lo", hi === null ? null : "seq <= @hi"].filter(Boolean).join(" AND ");
  // Raw rows: building one object per event costs more than reading it.
  const rows = db.prepare(`SELECT seq, event, hash FROM audit_events ${where ? `WHERE ${where}` : ""} ORDER BY seq`).raw(true);
  function* events(): Generator<StoredAuditEvent> {
    for (const r of rows.iterate({ lo, hi }) as Iterable<[number, string, string]>) yield { seq: r[0], event: r[1], hash: r[2] };
  }
  return verifyChain(events(), start);
}

/** `parts` stretches of about equal size covering every seq. */
export function stretches(minSeq: number, maxSeq: number, parts: number): Stretch[] {
  const size = Math.ceil((maxSeq - minSeq + 1) / parts);
  return Array.from({ length: parts }, (_, i) => ({
    lo: i === 0 ? null : minSeq - 1 + i * size,
    hi: i === parts - 1 ? null : minSeq - 1 + (i + 1) * size,
  }));
}

// The worker is a sibling module when compiled (dist/src/store/, or dist/ in the bundle); under
// the test runner (TypeScript sources) it is the compiled one in dist/.
const WORKER = new URL(import.meta.url.endsWith(".ts") ? "../../../dist/src/store/sqlite/audit-verify-worker.js" : "./audit-verify-worker.js", import.meta.url);

function inWorker(file: string, stretch: Stretch): Promise<ChainVerdict> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: { file, stretch } });
    worker.once("message", (v: ChainVerdict) => resolve(v));
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`audit verification worker exited with ${code} before answering`)));
  });
}

/**
 * Verifies the whole chain: in this thread for an in-memory or small database, else in
 * `workers` threads (default: one per core, at most 4).
 */
export async function verifyAuditChain(db: Db, options: { parallelFrom?: number; workers?: number } = {}): Promise<ChainVerdict> {
  const { n, lo, hi } = db.prepare("SELECT COUNT(*) AS n, MIN(seq) AS lo, MAX(seq) AS hi FROM audit_events").get() as { n: number; lo: number | null; hi: number | null };
  const workers = options.workers ?? Math.min(availableParallelism(), 4);
  if (db.memory || workers < 2 || n < (options.parallelFrom ?? PARALLEL_FROM_EVENTS) || lo === null || hi === null) {
    return verifyStretch(db, { lo: null, hi: null });
  }
  const parts = await Promise.all(stretches(lo, hi, workers).map((s) => inWorker(db.name, s)));
  return combineVerdicts(parts);
}

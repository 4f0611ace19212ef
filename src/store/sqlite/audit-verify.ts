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

/**
 * The worker's module. Compiled (dist/src/store/sqlite/, or dist/ next to the bundle) it is the
 * sibling file. Under the test runner this module is TypeScript and there is no compiled sibling
 * to trust (a stale or missing dist/), so the worker is bundled from the sources on first use.
 * The dev-only bundler is imported through a variable so that the production bundle neither
 * includes it nor esbuild.
 */
function workerUrl(): Promise<URL> {
  if (!import.meta.url.endsWith(".ts")) return Promise.resolve(new URL("./audit-verify-worker.js", import.meta.url));
  const bundler = "./worker-from-sources.js";
  return (import(bundler) as Promise<typeof import("./worker-from-sources.js")>).then((m) =>
    m.workerFromSources(new URL("./audit-verify-worker.ts", import.meta.url)),
  );
}

async function inWorker(file: string, stretch: Stretch): Promise<ChainVerdict> {
  const url = await workerUrl();
  return new Promise((resolve, reject) => {
    const worker = new Worker(url, { workerData: { file, stretch } });
    worker.once("message", (v: ChainVerdict) => resolve(v));
    worker.once("error", reject);
    worker.once("exit", (code) => reject(new Error(`audit verification worker exited with ${code} before answering`)));
  });
}

/**
 * The verdict over the whole chain from `workers` threads (default: one per core, at most 4),
 * each on its own read-only connection; undefined when that would not pay or cannot work (an
 * in-memory database, fewer than `parallelFrom` events, fewer than 2 workers): then one pass
 * over the chain, in this thread, gives the verdict.
 */
export async function verifyInParallel(db: Db, options: { parallelFrom?: number; workers?: number } = {}): Promise<ChainVerdict | undefined> {
  const workers = options.workers ?? Math.min(availableParallelism(), 4);
  if (db.memory || workers < 2) return undefined;
  const { n, lo, hi } = db.prepare("SELECT COUNT(*) AS n, MIN(seq) AS lo, MAX(seq) AS hi FROM audit_events").get() as { n: number; lo: number | null; hi: number | null };
  if (n < (options.parallelFrom ?? PARALLEL_FROM_EVENTS) || lo === null || hi === null) return undefined;
  const parts = await Promise.all(stretches(lo, hi, workers).map((s) => inWorker(db.name, s)));
  return combineVerdicts(parts);
}

/** Verifies the whole chain: in parallel when verifyInParallel takes it, else in one pass here. */
export async function verifyAuditChain(db: Db, options: { parallelFrom?: number; workers?: number } = {}): Promise<ChainVerdict> {
  return (await verifyInParallel(db, options)) ?? verifyStretch(db, { lo: null, hi: null });
}

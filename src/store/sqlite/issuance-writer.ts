import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import type { AuditInput } from "../../core/audit.js";
import type { IntermediateRecord } from "../../core/ports.js";
import { DomainError, type ErrorCode } from "../../errors.js";
import { settle, type IssuanceCommitter, type Pending } from "./group-commit.js";
import type { IssueOutcome, PendingIssue } from "./issue-transaction.js";

/** An error as it crosses from the writer thread: a DomainError keeps its code, any other its message and SQLite code. */
export type WireError = { domain: true; code: ErrorCode; message: string } | { domain: false; message: string; code?: string | undefined };
export type WireOutcome = Exclude<IssueOutcome, { ok: false }> | { ok: false; error: WireError };
export type WriterRequest = { id: number; items: readonly PendingIssue[] };
export type WriterReply = { id: number; outcomes: WireOutcome[] } | { id: number; failed: WireError };

export function toWire(err: unknown): WireError {
  if (err instanceof DomainError) return { domain: true, code: err.code, message: err.message };
  const e = err as { message?: unknown; code?: unknown } | null;
  return { domain: false, message: String(e?.message ?? err), code: typeof e?.code === "string" ? e.code : undefined };
}

export function fromWire(w: WireError): Error {
  if (w.domain) return new DomainError(w.code, w.message);
  return Object.assign(new Error(w.message), w.code === undefined ? {} : { code: w.code });
}

/**
 * Issuances queued in one turn that go over at once, without waiting for the turn to end: a
 * rotation run computes dozens in one turn, and the thread commits the first of them while the
 * event loop computes the rest. Concurrent requests rarely queue this many in one turn.
 */
const SEND_AT = 16;

/**
 * The writer thread: issuances commit on its own connection to the same database file, so that
 * the statements, the audit event's hashing and the commit's WAL writes and fsync run beside the
 * event loop, which goes on serving requests (synchronous=FULL stays, and every caller is
 * answered after its commit). The issuances of one event-loop turn go over as one message (or
 * several, SEND_AT at a time); the thread commits, in one transaction, every message that
 * arrived while it was committing the last (group commit that grows with the load, with no
 * window to wait out). SQLite's write lock orders its transactions with the other writes on the
 * main connection. The thread starts with the first issuance and holds the process open only
 * while one is unanswered.
 */
export function issuanceWriter(dbFile: string): IssuanceCommitter {
  let started: Promise<{ worker: Worker; port: MessagePort }> | undefined;
  let nextId = 1;
  const waiting = new Map<number, Pending[]>();
  let queue: Pending[] = [];
  let immediate: NodeJS.Immediate | undefined;

  const failAll = (err: unknown) => {
    for (const items of waiting.values()) for (const it of items) it.reject(err);
    waiting.clear();
    started = undefined;
  };
  const start = async () => {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(await workerUrl(), { workerData: { dbFile, port: port2 }, transferList: [port2] });
    worker.unref();
    port1.unref();
    port1.on("message", (reply: WriterReply) => {
      const items = waiting.get(reply.id);
      if (!items) return;
      waiting.delete(reply.id);
      if (waiting.size === 0) port1.unref();
      if ("failed" in reply) for (const it of items) it.reject(fromWire(reply.failed));
      else settle(items, reply.outcomes.map((o) => (o.ok ? o : { ok: false as const, error: fromWire(o.error) })));
    });
    worker.on("error", failAll);
    worker.on("exit", (code) => failAll(new Error(`the issuance writer thread exited (${code}) with issuances unanswered`)));
    return { worker, port: port1 };
  };
  const send = async () => {
    immediate = undefined;
    const items = queue;
    queue = [];
    try {
      const { port } = await (started ??= start());
      const id = nextId++;
      waiting.set(id, items);
      port.ref();
      port.postMessage({ id, items: items.map(({ rec, audit }) => ({ rec, audit })) } satisfies WriterRequest);
    } catch (err) {
      // The thread could not start (its module, its database): the next issuance tries again.
      started = undefined;
      for (const it of items) it.reject(err);
    }
  };

  return {
    submit(rec: IntermediateRecord, audit: AuditInput) {
      return new Promise((resolve, reject) => {
        queue.push({ rec, audit, resolve, reject });
        if (queue.length >= SEND_AT) {
          clearImmediate(immediate);
          void send();
        } else immediate ??= setImmediate(send);
      });
    },
    notice() {},
    async close() {
      while (queue.length > 0 || waiting.size > 0) await new Promise((r) => setTimeout(r, 1));
      const s = await started?.catch(() => undefined);
      started = undefined;
      if (s) await s.worker.terminate();
    },
  };
}

/**
 * The thread's module: the compiled sibling (dist/src/store/sqlite/, or dist/ beside the bundle);
 * under the test runner, bundled from the sources on first use (see worker-from-sources.ts).
 */
function workerUrl(): Promise<URL> {
  if (!import.meta.url.endsWith(".ts")) return Promise.resolve(new URL("./issuance-writer-worker.js", import.meta.url));
  const bundler = "./worker-from-sources.js";
  return (import(bundler) as Promise<typeof import("./worker-from-sources.js")>).then((m) =>
    m.workerFromSources(new URL("./issuance-writer-worker.ts", import.meta.url)),
  );
}

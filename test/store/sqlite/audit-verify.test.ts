import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { auditInput, systemContext, verifyChain, type StoredAuditEvent } from "../../../src/core/audit.js";
import { verifyAuditChain, verifyInParallel, verifyStretch } from "../../../src/store/sqlite/audit-verify.js";
import { auditAppender } from "../../../src/store/sqlite/audit-store.js";
import { openDatabase } from "../../../src/store/sqlite/database.js";
import { migrate } from "../../../src/store/sqlite/migrate.js";
import { sqliteStore } from "../../../src/store/sqlite/sqlite-store.js";
import { workerFromSources } from "../../../src/store/sqlite/worker-from-sources.js";

const TEST_CTX = systemContext("test");
const tempDir = () => mkdtempSync(join(tmpdir(), "meshroot-verify-"));

const EVENTS = 3000;

/** A file database with a chain of EVENTS events and its append-only triggers dropped. */
function chain() {
  const db = openDatabase(join(tempDir(), "audit.db"));
  migrate(db);
  const append = auditAppender(db);
  db.transaction(() => {
    for (let i = 1; i <= EVENTS; i++) {
      append(auditInput(TEST_CTX, new Date(1e12 + i), "x.test", { type: "t", id: `id-${i}` }, { cluster: `c${i % 7}` }, { i, note: "ünïcødé \n\"" }));
    }
  })();
  db.exec("DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;");
  return db;
}

// With 3 workers the stretches are seq (…, 1000], (1000, 2000], (2000, …): tamper at and around their edges.
const tamperings: [string, string][] = [
  ["nothing", ""],
  ["edit the first event", "UPDATE audit_events SET event = replace(event, '\"i\":1,', '\"i\":-1,') WHERE seq = 1"],
  ["edit the last event of a stretch", "UPDATE audit_events SET event = replace(event, 'id-1000', 'id-x') WHERE seq = 1000"],
  ["edit the first event of a stretch", "UPDATE audit_events SET event = replace(event, 'id-1001', 'id-x') WHERE seq = 1001"],
  ["delete the last event of a stretch", "DELETE FROM audit_events WHERE seq = 1000"],
  ["delete the first event of a stretch", "DELETE FROM audit_events WHERE seq = 2001"],
  ["delete and renumber across an edge", "DELETE FROM audit_events WHERE seq = 999; UPDATE audit_events SET seq = seq - 1 WHERE seq > 999"],
  ["swap two events across an edge", "UPDATE audit_events SET seq = -1 WHERE seq = 2000; UPDATE audit_events SET seq = 2000 WHERE seq = 2001; UPDATE audit_events SET seq = 2001 WHERE seq = -1"],
  ["an event before the first", "INSERT INTO audit_events (seq, event, hash) SELECT 0, event, 'other' FROM audit_events WHERE seq = 5"],
  ["replace a hash", "UPDATE audit_events SET hash = printf('%064d', 7) WHERE seq = 1499"],
];

describe("audit chain verification in worker threads", () => {
  it.each(tamperings)("gives the same verdict as one pass: %s", async (_, sql) => {
    const db = chain();
    if (sql) db.exec(sql);
    const sequential = verifyStretch(db, { lo: null, hi: null });
    const parallel = await verifyAuditChain(db, { parallelFrom: 0, workers: 3 });
    expect(parallel).toEqual(sequential);
    if (sql) expect(sequential.ok).toBe(false);
    else expect(sequential).toMatchObject({ ok: true, events: EVENTS, lastSeq: EVENTS });
    db.close();
  });

  it("cannot see a missing tail on its own: compare lastHash with one kept elsewhere", async () => {
    const db = chain();
    const before = await verifyAuditChain(db, { parallelFrom: 0, workers: 3 });
    db.exec("DELETE FROM audit_events WHERE seq = 3000");
    const after = await verifyAuditChain(db, { parallelFrom: 0, workers: 3 });
    expect(after).toMatchObject({ ok: true, events: EVENTS - 1 });
    expect(after.lastHash).not.toBe(before.lastHash);
    db.close();
  });

  it("runs the worker from the sources, bundled on the fly (no build needed)", async () => {
    const db = chain();
    const url = await workerFromSources(new URL("../../../src/store/sqlite/audit-verify-worker.ts", import.meta.url));
    expect(url.pathname).toMatch(/\/node_modules\/\.cache\/meshroot\/audit-verify-worker\.mjs$/);
    expect(await workerFromSources(new URL("../../../src/store/sqlite/audit-verify-worker.ts", import.meta.url))).toBe(url);
    const worker = new Worker(url, { workerData: { file: db.name, stretch: { lo: 1000, hi: null } } });
    const verdict = await new Promise((resolve, reject) => (worker.once("message", resolve), worker.once("error", reject)));
    expect(verdict).toEqual(verifyStretch(db, { lo: 1000, hi: null }));
    expect(verdict).toMatchObject({ ok: true, events: EVENTS - 1000, lastSeq: EVENTS });
    db.close();
  });

  it("the store's parallel verdict equals verifyChain over readAuditChain, or is declined", async () => {
    const db = chain();
    const store = sqliteStore(db);
    const events: StoredAuditEvent[] = [];
    for await (const e of store.readAuditChain()) events.push(e);
    expect(await verifyInParallel(db, { parallelFrom: 0, workers: 3 })).toEqual(verifyChain(events));
    // Declined: a chain below the threshold (3000 events), a single worker, an in-memory database.
    expect(await store.verifyAuditInParallel?.()).toBeUndefined();
    expect(await verifyInParallel(db, { parallelFrom: 0, workers: 1 })).toBeUndefined();
    const memory = openDatabase(":memory:");
    migrate(memory);
    auditAppender(memory)(auditInput(TEST_CTX, new Date(), "x.test", { type: "t", id: "1" }, {}));
    expect(await verifyInParallel(memory, { parallelFrom: 0, workers: 3 })).toBeUndefined();
    db.close();
  });

  it("stays in this thread for small chains and in-memory databases", async () => {
    const db = openDatabase(":memory:");
    migrate(db);
    expect(await verifyAuditChain(db, { parallelFrom: 0, workers: 3 })).toMatchObject({ ok: true, events: 0, lastSeq: 0 });
  });
});

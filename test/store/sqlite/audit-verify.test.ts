import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { auditInput } from "../../../src/core/audit.js";
import { verifyAuditChain, verifyStretch } from "../../../src/store/sqlite/audit-verify.js";
import { auditAppender } from "../../../src/store/sqlite/audit-store.js";
import { openDatabase } from "../../../src/store/sqlite/database.js";
import { migrate } from "../../../src/store/sqlite/migrate.js";
import { tempDir, TEST_CTX } from "../../helpers.js";

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

  it("the bundled worker (dist/audit-verify-worker.js, what `meshroot` loads) verifies a stretch", async () => {
    const db = chain();
    const worker = new Worker(new URL("../../../dist/audit-verify-worker.js", import.meta.url), { workerData: { file: db.name, stretch: { lo: 1000, hi: null } } });
    const verdict = await new Promise((resolve, reject) => (worker.once("message", resolve), worker.once("error", reject)));
    expect(verdict).toEqual(verifyStretch(db, { lo: 1000, hi: null }));
    expect(verdict).toMatchObject({ ok: true, events: EVENTS - 1000, lastSeq: EVENTS });
    db.close();
  });

  it("stays in this thread for small chains and in-memory databases", async () => {
    const db = openDatabase(":memory:");
    migrate(db);
    expect(await verifyAuditChain(db, { parallelFrom: 0, workers: 3 })).toMatchObject({ ok: true, events: 0, lastSeq: 0 });
  });
});

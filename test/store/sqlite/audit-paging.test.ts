import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../../src/store/sqlite/database.js";
import { migrate } from "../../../src/store/sqlite/migrate.js";
import { sqliteStore } from "../../../src/store/sqlite/sqlite-store.js";
import { audit, seedCluster, seedDomain } from "../contract/fixtures.js";

// A slowly read audit export must not block writers: better-sqlite3 refuses every statement on a
// connection while a statement iterator is open on it, so the adapter reads the trail in pages.

const EVENTS = 1200; // more than two pages

async function setup(path: string) {
  const db = openDatabase(path);
  migrate(db);
  const store = sqliteStore(db);
  await seedDomain(store, "one.example");
  for (let i = 1; i < EVENTS; i++) await store.appendAudit(audit("x.read", `id-${i}`));
  return { db, store };
}

describe.each([
  ["in memory", () => ":memory:"],
  ["in a file", () => join(mkdtempSync(join(tmpdir(), "meshroot-audit-")), "store.db")],
])("SQLite audit trail read in pages (%s)", (_, path) => {
  it("the reason: better-sqlite3 refuses a write while a statement iterator is open", async () => {
    const { db, store } = await setup(path());
    const rows = db.prepare("SELECT seq FROM audit_events ORDER BY seq").iterate();
    rows.next();
    await expect(store.appendAudit(audit("x.write", "w"))).rejects.toThrow(/busy executing a query/);
    rows.return?.();
  });

  it("takes writes while an iterateAudit is suspended halfway, then reads on", async () => {
    const { store } = await setup(path());
    const it = store.iterateAudit({})[Symbol.asyncIterator]();
    const head = [];
    for (let i = 0; i < 3; i++) head.push((await it.next()).value!.seq);
    expect(head).toEqual([1, 2, 3]);
    const written = await store.appendAudit(audit("x.write", "during the export"));
    await seedCluster(store, "east", "one.example");
    const seqs = [...head];
    for (let r = await it.next(); !r.done; r = await it.next()) seqs.push(r.value.seq);
    // Whether the events written meanwhile show up is unspecified; order and completeness are not.
    expect(seqs.slice(0, EVENTS)).toEqual(Array.from({ length: EVENTS }, (_, i) => i + 1));
    expect(seqs.length).toBeLessThanOrEqual(EVENTS + 2);
    expect(written.seq).toBe(EVENTS + 1);
  });

  it("takes writes while a readAuditChain is suspended across a page boundary", async () => {
    const { store } = await setup(path());
    const it = store.readAuditChain()[Symbol.asyncIterator]();
    for (let i = 0; i < 700; i++) await it.next();
    await store.appendAudit(audit("x.write", "during verification"));
    let n = 700;
    for (let r = await it.next(); !r.done; r = await it.next()) n++;
    expect(n).toBeGreaterThanOrEqual(EVENTS);
    expect(n).toBeLessThanOrEqual(EVENTS + 1);
  });
});

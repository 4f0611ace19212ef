import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { verifyStretch } from "../../../src/store/sqlite/audit-verify.js";
import { openDatabase, type Db } from "../../../src/store/sqlite/database.js";
import { issuanceWriter } from "../../../src/store/sqlite/issuance-writer.js";
import { migrate } from "../../../src/store/sqlite/migrate.js";
import { sqliteStore } from "../../../src/store/sqlite/sqlite-store.js";
import { DomainError } from "../../../src/errors.js";
import { audit, intermediate, seedCluster, seedDomain } from "../contract/fixtures.js";

// The writer thread (src/store/sqlite/issuance-writer.ts): issuances commit on its own
// connection; what the core sees must be what the in-thread group commit gives.

const opened: { db: Db; close: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) {
    await o.close();
    o.db.close();
  }
});

async function setup(clusters: number) {
  const file = join(mkdtempSync(join(tmpdir(), "meshroot-writer-")), "store.db");
  const db = openDatabase(file);
  migrate(db);
  const writer = issuanceWriter(file);
  opened.push({ db, close: () => writer.close() });
  const store = sqliteStore(db, { writer });
  const root = await seedDomain(store, "one.example");
  const made = [];
  for (let i = 0; i < clusters; i++) made.push(await seedCluster(store, `c${String(i).padStart(3, "0")}`, "one.example"));
  const insert = (rec: ReturnType<typeof intermediate>) => store.insertIntermediate(rec, audit("intermediate.issue", rec.serial, { cluster: rec.cluster }));
  return { file, db, store, root, clusters: made, insert };
}

describe("SQLite issuance writer thread", () => {
  it("answers each issuance once it is committed: another connection already reads it, with its audit event", async () => {
    const { file, root, clusters, insert } = await setup(40);
    const other = openDatabase(file);
    try {
      const records = clusters.map((c) => intermediate(c, root.serial, 1));
      const seen = await Promise.all(
        records.map((r) => insert(r).then((res) => ({ res, row: other.prepare("SELECT serial, status FROM intermediates WHERE serial = ?").get(r.serial) }))),
      );
      for (const [i, { res, row }] of seen.entries()) {
        expect(res.created).toBe(true);
        expect(res.record.serial).toBe(records[i]!.serial);
        expect(row).toEqual({ serial: records[i]!.serial, status: "active" });
      }
      const events = other.prepare("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'intermediate.issue'").get() as { n: number };
      expect(events.n).toBe(40);
    } finally {
      other.close();
    }
  });

  it("keeps the audit trail one chain when the main connection writes between the writer's commits", async () => {
    const { db, store, root, clusters, insert } = await setup(30);
    const writes = clusters.flatMap((c, i) => [insert(intermediate(c, root.serial, 1)), seedCluster(store, `extra-${i}`, "one.example")]);
    await Promise.all(writes);
    const verdict = verifyStretch(db, { lo: null, hi: null });
    expect(verdict.ok).toBe(true);
    expect(verdict.events).toBe(1 + 30 + 30 + 30);
  });

  it("refuses one issuance of a batch (a skipped generation) with its domain code, and commits the others", async () => {
    const { store, root, clusters, insert } = await setup(5);
    const good = clusters.map((c) => intermediate(c, root.serial, 1));
    const stale = intermediate(clusters[2]!, root.serial, 3);
    const results = await Promise.allSettled([...good.slice(0, 3), stale, ...good.slice(3)].map(insert));
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"]);
    const reason = (results[3] as PromiseRejectedResult).reason;
    expect(reason).toBeInstanceOf(DomainError);
    expect(reason).toMatchObject({ code: "rotation_in_progress" });
    for (const rec of good) expect((await store.getActiveIntermediate(rec.cluster))?.serial).toBe(rec.serial);
  });

  it("replays an Idempotency-Key from the writer's connection: the earlier record, not created", async () => {
    const { root, clusters, insert } = await setup(1);
    const first = intermediate(clusters[0]!, root.serial, 1, { idempotencyKey: "k-1", requestHash: "h" });
    expect((await insert(first)).created).toBe(true);
    const again = await insert(intermediate(clusters[0]!, root.serial, 2, { idempotencyKey: "k-1", requestHash: "h" }));
    expect(again.created).toBe(false);
    expect(again.record.serial).toBe(first.serial);
    expect(again.record.notAfter).toEqual(first.notAfter);
  });

  it("one active intermediate per cluster: two issuances of one generation race, one wins", async () => {
    const { store, root, clusters, insert } = await setup(1);
    const [a, b] = [intermediate(clusters[0]!, root.serial, 1), intermediate(clusters[0]!, root.serial, 1)];
    const results = await Promise.allSettled([insert(a), insert(b)]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect((results.find((r) => r.status === "rejected") as PromiseRejectedResult).reason).toMatchObject({ code: "rotation_in_progress" });
    expect((await store.listIntermediates(clusters[0]!.name, { limit: 10 })).map((r) => r.generation)).toEqual([1]);
  });

  it("rejects, never hangs, when the thread cannot open the database", async () => {
    const writer = issuanceWriter(join(tmpdir(), "meshroot-no-such-dir", "x", "store.db"));
    const c = { name: "c", trustDomain: "one.example" };
    const rec = intermediate(c, "00", 1);
    await expect(writer.submit(rec, audit("intermediate.issue", rec.serial))).rejects.toThrow();
    // Each later issuance tries a new thread, and fails the same way (no issuance is left hanging).
    await expect(writer.submit(rec, audit("intermediate.issue", rec.serial))).rejects.toThrow();
    await writer.close();
  });
});

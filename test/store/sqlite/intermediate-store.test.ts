import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import type { IntermediateRecord } from "../../../src/core/ports.js";
import { openDatabase } from "../../../src/store/sqlite/database.js";
import { migrate } from "../../../src/store/sqlite/migrate.js";
import { sqliteStore } from "../../../src/store/sqlite/sqlite-store.js";
import { audit, intermediate, issue, seedCluster, seedDomain } from "../contract/fixtures.js";

// SQLite specifics of issuance: the constraint behind "one active intermediate", and group
// commit. The backend-neutral behaviour is in the storage contract (test/store/contract/).

/** A file database (real commits) with `clusters` clusters, counting the COMMITs it runs. */
async function setup(clusters = 0) {
  const statements: string[] = [];
  const db = openDatabase(join(mkdtempSync(join(tmpdir(), "meshroot-gc-")), "store.db"), { verbose: (sql) => statements.push(String(sql)) });
  migrate(db);
  const store = sqliteStore(db);
  const root = await seedDomain(store, "one.example");
  const made = [];
  for (let i = 0; i < clusters; i++) made.push(await seedCluster(store, `c${String(i).padStart(3, "0")}`, "one.example"));
  statements.length = 0;
  const commits = () => statements.filter((s) => s === "COMMIT").length;
  const insert = (rec: IntermediateRecord) => store.insertIntermediate(rec, audit("intermediate.issue", rec.serial, { cluster: rec.cluster }));
  return { db, store, root, clusters: made, commits, insert };
}

describe("SQLite intermediate store", () => {
  it("the database itself refuses a second active intermediate for a cluster", async () => {
    const { db, store, root } = await setup();
    const east = await seedCluster(store, "east", "one.example");
    await issue(store, east, root.serial);
    expect(() =>
      db
        .prepare(
          `INSERT INTO intermediates (serial, cluster, trust_domain, root_serial, generation, status, custody, key_algorithm, cert_pem,
            fingerprint_sha256, not_before, not_after, rotate_after, created_at)
           SELECT '11', cluster, trust_domain, root_serial, 9, 'active', 'external', key_algorithm, cert_pem, 'x', 0, 1, 1, 0 FROM intermediates`,
        )
        .run(),
    ).toThrow(/UNIQUE/);
  });

  it("commits the inserts of one event-loop turn together, and answers only once they are committed", async () => {
    const { db, root, clusters, commits, insert } = await setup(20);
    const records = clusters.map((c) => intermediate(c, root.serial, 1));
    const other = openDatabase(db.name);
    const seen = await Promise.all(records.map((r) => insert(r).then(() => other.prepare("SELECT COUNT(*) AS n FROM intermediates").get())));
    expect(commits()).toBe(1);
    // Every caller, when answered, could already read all 20 from another connection.
    expect(seen).toEqual(records.map(() => ({ n: 20 })));
    other.close();
  });

  it("keeps each insert of a batch in its own savepoint: one refusal undoes none of the others", async () => {
    const { store, root, clusters, commits, insert } = await setup(5);
    const good = clusters.map((c) => intermediate(c, root.serial, 1));
    const stale = intermediate(clusters[2]!, root.serial, 3); // skips a generation
    const results = await Promise.allSettled([...good.slice(0, 3), stale, ...good.slice(3)].map(insert));
    expect(commits()).toBe(1);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"]);
    expect((results[3] as PromiseRejectedResult).reason).toMatchObject({ code: "rotation_in_progress" });
    for (const rec of good) expect((await store.getActiveIntermediate(rec.cluster))?.serial).toBe(rec.serial);
  });

  it("puts at most 64 inserts in one commit", async () => {
    const { root, clusters, commits, insert } = await setup(100);
    await Promise.all(clusters.map((c) => insert(intermediate(c, root.serial, 1))));
    expect(commits()).toBe(2);
  });

  // Fake timers: what is asserted is which inserts share a commit, not how fast the machine is.
  it("commits a lone insert at the end of its turn, without waiting for company", async () => {
    const { root, clusters, commits, insert } = await setup(2);
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "clearImmediate"] });
    try {
      for (const [i, c] of clusters.entries()) {
        const done = insert(intermediate(c, root.serial, 1));
        await vi.advanceTimersByTimeAsync(0);
        expect(commits()).toBe(i + 1);
        await done;
      }
    } finally {
      vi.useRealTimers();
    }
  });

  it("waits for issuances on their way (their cluster's latest generation was read), at most 5 ms", async () => {
    const { store, root, clusters, commits, insert } = await setup(4);
    const [c0, c1, c2, c3] = clusters as [typeof clusters[0], typeof clusters[0], typeof clusters[0], typeof clusters[0]];
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setImmediate", "clearImmediate"] });
    try {
      // Two issuances read their cluster's latest generation: two inserts are on their way.
      await store.getLatestIntermediate(c0.name);
      await store.getLatestIntermediate(c1.name);
      const first = insert(intermediate(c0, root.serial, 1));
      await vi.advanceTimersByTimeAsync(1);
      expect(commits()).toBe(0);
      const second = insert(intermediate(c1, root.serial, 1));
      await vi.advanceTimersByTimeAsync(0);
      await Promise.all([first, second]);
      expect(commits()).toBe(1);
      // One that never comes holds a queued insert for the window only.
      await store.getLatestIntermediate(c2.name);
      const third = insert(intermediate(c3, root.serial, 1));
      await vi.advanceTimersByTimeAsync(4);
      expect(commits()).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      await third;
      expect(commits()).toBe(2);
      // The notice lapses: later inserts no longer wait for it.
      await vi.advanceTimersByTimeAsync(50);
      const fourth = insert(intermediate(c2, root.serial, 1));
      await vi.advanceTimersByTimeAsync(0);
      await fourth;
      expect(commits()).toBe(3);
    } finally {
      vi.useRealTimers();
    }
  });
});

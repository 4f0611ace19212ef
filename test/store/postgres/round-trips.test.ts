import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IntermediateRecord, Store } from "../../../src/core/ports.js";
import { verifyPostgresChain } from "../../../src/store/postgres/audit-store.js";
import { migratePostgres } from "../../../src/store/postgres/migrate.js";
import { openPg, type PgDb } from "../../../src/store/postgres/pool.js";
import { postgresStore } from "../../../src/store/postgres/postgres-store.js";
import { allAudit, audit, intermediate, seedCluster, seedDomain } from "../contract/fixtures.js";
import { skipPostgres, startPostgres, type PgServer } from "./server.js";

/**
 * The PostgreSQL issuance path in few round trips: a group commit's items checked, written and
 * chained under the audit lock in one statement (and, when it fails, one item at a time), and
 * reads issued together sent together.
 */

const issueAudit = (r: IntermediateRecord) => audit("intermediate.issue", r.serial, { cluster: r.cluster, trustDomain: r.trustDomain });

describe.skipIf(skipPostgres)("round trips on PostgreSQL", () => {
  let server: PgServer;
  let url: string;
  let schemas = 0;
  const opened: PgDb[] = [];
  /** A fresh migrated schema, and a log of the statements the store sends. */
  async function fresh(): Promise<{ db: PgDb; store: Store; sent: string[] }> {
    const schema = `trips_${++schemas}`;
    const admin = openPg(url, { max: 1 });
    await admin.sql.query(`CREATE SCHEMA ${schema}`);
    await admin.close();
    const db = openPg(url, { schema, max: 4 });
    opened.push(db);
    const sent: string[] = [];
    db.pool.on("connect", (client) => {
      const query = client.query.bind(client) as (...a: unknown[]) => unknown;
      (client as unknown as { query: (...a: unknown[]) => unknown }).query = (...a: unknown[]) => {
        sent.push(typeof a[0] === "string" ? a[0] : String((a[0] as { text?: string }).text));
        return query(...a);
      };
    });
    await migratePostgres(db);
    return { db, store: postgresStore(db), sent };
  }
  beforeAll(async () => {
    server = await startPostgres();
    url = await server.createDatabase();
  });
  afterAll(async () => {
    await Promise.all(opened.map((db) => db.close()));
    await server?.stop();
  });

  it("commits a batch of issuances for many clusters in a fixed number of round trips, the chain verifying", async () => {
    const { store, sent } = await fresh();
    const r = await seedDomain(store, "one.example");
    const clusters = [];
    for (let i = 0; i < 20; i++) clusters.push(await seedCluster(store, `c${i}`, "one.example"));
    const first = clusters.map((c) => intermediate(c, r.serial, 1));
    await Promise.all(first.map((rec) => store.insertIntermediate(rec, issueAudit(rec))));
    sent.length = 0;
    const second = clusters.map((c, i) => intermediate(c, r.serial, 2, { supersedes: first[i]!.serial }));
    const results = await Promise.all(second.map((rec) => store.insertIntermediate(rec, issueAudit(rec))));
    expect(results.every((x) => x.created)).toBe(true);
    // One statement (the lock, the checks, the writes, the chain), however many items the batch holds.
    expect(sent.length).toBe(1);
    for (const [i, c] of clusters.entries()) {
      expect((await store.getActiveIntermediate(c.name))!.serial).toBe(second[i]!.serial);
      expect((await store.getIntermediate(first[i]!.serial))!).toMatchObject({ status: "superseded", supersededBy: second[i]!.serial });
    }
    expect((await verifyPostgresChain(store)).ok).toBe(true);
  });

  it("chains events whose text has quotes, backslashes and characters beyond ASCII as the process hashes them", async () => {
    const { store, sent } = await fresh();
    const r = await seedDomain(store, "one.example");
    const c = await seedCluster(store, "east", "one.example");
    sent.length = 0;
    const rec = intermediate(c, r.serial, 1);
    const input = { ...issueAudit(rec), details: { note: 'ünï\u00e7ødé ✓ 🚀 "quoted" back\\slash \u0001', nested: { seq: 1, prevHash: "0".repeat(64) } } };
    expect((await store.insertIntermediate(rec, input)).created).toBe(true);
    expect(sent.length).toBe(1);
    const events = await allAudit(store);
    expect(events.at(-1)!.details).toEqual(input.details);
    expect((await verifyPostgresChain(store)).ok).toBe(true);
  });

  it("answers each item of one batch on its own: created, replayed, generation taken, a second prepared one", async () => {
    const { store } = await fresh();
    const r = await seedDomain(store, "one.example");
    const [a, b, c] = [await seedCluster(store, "a", "one.example"), await seedCluster(store, "b", "one.example"), await seedCluster(store, "c", "one.example")];
    const a1 = intermediate(a, r.serial, 1, { idempotencyKey: "k" });
    const a1again = intermediate(a, r.serial, 1, { idempotencyKey: "k" });
    const b1 = intermediate(b, r.serial, 1);
    const b1rival = intermediate(b, r.serial, 1);
    const c1 = intermediate(c, r.serial, 1);
    await store.insertIntermediate(c1, issueAudit(c1));
    const c2 = intermediate(c, r.serial, 2, { status: "prepared" });
    const c2rival = intermediate(c, r.serial, 3, { status: "prepared" });
    const results = await Promise.allSettled([a1, a1again, b1, b1rival, c2, c2rival].map((rec) => store.insertIntermediate(rec, issueAudit(rec))));
    const value = (i: number) => (results[i] as PromiseFulfilledResult<{ record: IntermediateRecord; created: boolean }>).value;
    const code = (i: number) => ((results[i] as PromiseRejectedResult).reason as { code?: string }).code;
    expect(value(0)).toEqual({ record: a1, created: true });
    expect(value(1)).toEqual({ record: a1, created: false });
    expect(value(2)).toEqual({ record: b1, created: true });
    expect(code(3)).toBe("rotation_in_progress");
    expect(value(4).created).toBe(true);
    expect(code(5)).toBe("rotation_in_progress");
    expect((await store.getActiveIntermediate("c"))!.serial).toBe(c1.serial);
    expect((await store.getLatestIntermediate("c"))!).toMatchObject({ serial: c2.serial, status: "prepared" });
    const issued = (await allAudit(store)).filter((e) => e.action === "intermediate.issue").map((e) => e.target.id);
    expect(issued).toEqual([c1.serial, a1.serial, b1.serial, c2.serial]);
    expect((await verifyPostgresChain(store)).ok).toBe(true);
  });

  it("retries a batch whose write fails one item at a time: only the offending item is refused", async () => {
    const { store } = await fresh();
    const r = await seedDomain(store, "one.example");
    const [a, b, c] = [await seedCluster(store, "a", "one.example"), await seedCluster(store, "b", "one.example"), await seedCluster(store, "c", "one.example")];
    const a1 = intermediate(a, r.serial, 1);
    // The same certificate fingerprint twice: only the database's unique index can refuse it.
    const b1 = intermediate(b, r.serial, 1, { fingerprintSha256: a1.fingerprintSha256 });
    const c1 = intermediate(c, r.serial, 1);
    const results = await Promise.allSettled([a1, b1, c1].map((rec) => store.insertIntermediate(rec, issueAudit(rec))));
    expect(results.map((x) => x.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(((results[1] as PromiseRejectedResult).reason as { code?: string }).code).toBe("rotation_in_progress");
    expect(await store.getActiveIntermediate("b")).toBeUndefined();
    expect((await allAudit(store)).filter((e) => e.action === "intermediate.issue").map((e) => e.target.id)).toEqual([a1.serial, c1.serial]);
    expect((await verifyPostgresChain(store)).ok).toBe(true);
  });

  it("sends reads issued together in one round trip, each answered with its own rows or its own error", async () => {
    const { db, sent } = await fresh();
    await db.sql.query("CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT, b BOOLEAN)");
    const keys = ["plain", "it's", "back\\slash", "$1 and $2", "ünï\u00e7ødé", "semi;colon --", ""];
    for (const [i, k] of keys.entries()) await db.sql.query("INSERT INTO t VALUES ($1, $2, $3)", [k, i * 1_000_000_000_000, i % 2 === 0]);
    sent.length = 0;
    const rows = await Promise.all(keys.map((k) => db.read.query<{ k: string; n: number; b: boolean }>("SELECT * FROM t WHERE k = $1 AND n >= $2 AND b = $3", [k, 0, keys.indexOf(k) % 2 === 0])));
    expect(rows.map((r) => r.rows[0]?.k)).toEqual(keys);
    expect(rows.map((r) => r.rows[0]?.n)).toEqual(keys.map((_, i) => i * 1_000_000_000_000));
    // Prepared on this connection first (once), then run: one EXECUTE each, in one query.
    expect(sent.filter((q) => q.startsWith("PREPARE"))).toHaveLength(1);
    expect(sent.filter((q) => q.startsWith("EXECUTE"))).toHaveLength(1);
    sent.length = 0;
    const again = await Promise.all(keys.map((k) => db.read.query<{ k: string }>("SELECT * FROM t WHERE k = $1 AND n >= $2 AND b = $3", [k, 0, keys.indexOf(k) % 2 === 0])));
    expect(again.map((r) => r.rows[0]?.k)).toEqual(keys);
    expect(sent.length).toBe(1);
    // One read that fails does not fail the others sent with it.
    const [good, bad, none] = await Promise.allSettled([
      db.read.query("SELECT k FROM t WHERE k = $1", ["plain"]),
      db.read.query("SELECT k FROM t WHERE n = $1", ["not a number"]),
      db.read.query("SELECT k FROM t WHERE k = $1", [null]),
    ]);
    expect((good as PromiseFulfilledResult<{ rows: unknown[] }>).value.rows).toEqual([{ k: "plain" }]);
    expect((bad as PromiseRejectedResult).reason).toMatchObject({ code: "22P02" });
    expect((none as PromiseFulfilledResult<{ rows: unknown[] }>).value.rows).toEqual([]);
  });
});

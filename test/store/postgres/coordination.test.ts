import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditInput, systemContext } from "../../../src/core/audit.js";
import { listenForChanges } from "../../../src/store/postgres/change-listener.js";
import { LEADER_CHECK_MS, runAsLeader } from "../../../src/store/postgres/leader.js";
import { migratePostgres } from "../../../src/store/postgres/migrate.js";
import { openPg, type PgDb } from "../../../src/store/postgres/pool.js";
import { postgresStore } from "../../../src/store/postgres/postgres-store.js";
import { skipPostgres, startPostgres, type PgServer } from "./server.js";

/** How replicas coordinate through PostgreSQL: change notifications on commit, and one leader for the background jobs. */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (cond: () => boolean, ms: number) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(20);
  return cond();
};
const quiet = { info() {}, error() {} };

describe.skipIf(skipPostgres)("replica coordination on PostgreSQL", () => {
  let server: PgServer;
  let url: string;
  let db: PgDb;
  beforeAll(async () => {
    server = await startPostgres();
    url = await server.createDatabase();
    db = openPg(url);
    await migratePostgres(db);
  });
  afterAll(async () => {
    await db?.close();
    await server?.stop();
  });

  it("notifies every listener of an audited write's trust domain when it commits, and not for a write rolled back", async () => {
    const heard: string[][] = [[], []];
    const stops = heard.map((h) => listenForChanges(url, {}, (td) => h.push(td)));
    await sleep(500); // both listening
    const store = postgresStore(db);
    await store.appendAudit(auditInput(systemContext("test"), new Date(), "test.write", { type: "test", id: "1" }, { trustDomain: "a.example" }, {}));
    expect(await until(() => heard.every((h) => h.includes("a.example")), 3000)).toBe(true);
    // A refused write (a cluster of a trust domain that does not exist) appends nothing and notifies nothing.
    await expect(
      store.createCluster(
        { name: "ghost", trustDomain: "missing.example", labels: {}, policy: { keyAlgorithm: "ecdsa-p256", validityDays: 30, renewBeforeDays: null }, createdAt: new Date(), updatedAt: new Date(), decommissionedAt: null },
        auditInput(systemContext("test"), new Date(), "cluster.create", { type: "cluster", id: "ghost" }, { trustDomain: "missing.example" }, {}),
      ),
    ).rejects.toThrow();
    await sleep(500);
    expect(heard.flat()).not.toContain("missing.example");
    await Promise.all(stops.map((s) => s()));
  });

  it("runs the jobs on one process at a time, and another takes over when the leader stops", async () => {
    const running = new Set<string>();
    const starts: string[] = [];
    const leader = (name: string) =>
      runAsLeader(url, {}, () => {
        running.add(name);
        starts.push(name);
        return async () => void running.delete(name);
      }, quiet);
    const stopA = leader("a");
    const stopB = leader("b");
    expect(await until(() => running.size === 1, LEADER_CHECK_MS * 2)).toBe(true);
    await sleep(LEADER_CHECK_MS * 1.5);
    expect(running.size).toBe(1);
    const first = [...running][0]!;
    await (first === "a" ? stopA : stopB)();
    expect(await until(() => running.size === 1 && !running.has(first), LEADER_CHECK_MS * 3)).toBe(true);
    expect(starts).toHaveLength(2);
    await (first === "a" ? stopB : stopA)();
    expect(running.size).toBe(0);
  });
});

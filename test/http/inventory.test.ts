import { beforeAll, describe, expect, it } from "vitest";
import { createCore } from "../../src/core/core.js";
import { DAY_MS, fixedClock } from "../../src/clock.js";
import { buildApp } from "../../src/http/app.js";
import { openDatabase, type Db } from "../../src/store/sqlite/database.js";
import { migrate } from "../../src/store/sqlite/migrate.js";
import { sqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { coreOver, makeCsr, openssl, T0, TEST_CTX } from "../helpers.js";

const statements: string[] = [];
let db: Db;
let app: Awaited<ReturnType<typeof buildApp>>;
let core: ReturnType<typeof createCore>;
let auth: { authorization: string };
const clock = fixedClock(T0);
const serials: Record<string, string> = {};

beforeAll(async () => {
  db = openDatabase(":memory:", { verbose: (sql) => statements.push(String(sql)) });
  migrate(db);
  core = coreOver(sqliteStore(db), clock).core;
  app = await buildApp({ core, clock, readiness: () => ({ ready: true, checks: {} }) });
  auth = { authorization: `Bearer ${(await core.tokens.create({ name: "auditor", role: "auditor" }, TEST_CTX)).secret}` };
  await core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
  await core.trustDomains.create({ name: "other.example" }, TEST_CTX);
  await core.clusters.register({ name: "east", trustDomain: "cluster.local", policy: { validityDays: 30 } }, TEST_CTX);
  await core.clusters.register({ name: "west", trustDomain: "cluster.local" }, TEST_CTX);
  await core.clusters.register({ name: "far", trustDomain: "other.example" }, TEST_CTX);
  serials.east1 = (await core.issuance.issue("east", {}, TEST_CTX)).record.serial;
  clock.advance(DAY_MS);
  serials.east2 = (await core.issuance.issue("east", {}, TEST_CTX)).record.serial;
  clock.advance(DAY_MS);
  serials.west1 = (await core.issuance.issue("west", { csrPem: (await makeCsr()).pem }, TEST_CTX)).record.serial;
  clock.advance(DAY_MS);
  serials.far1 = (await core.issuance.issue("far", {}, TEST_CTX)).record.serial;
  await core.revocation.revoke(serials.west1, "keyCompromise", TEST_CTX);
  clock.advance(29 * DAY_MS); // east's generations (30 days) have expired
});

const list = async (q: string) => {
  const res = await app.inject({ url: `/v1/certificates${q}`, headers: auth });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { items: { serial: string; status: string }[]; nextCursor: string | null };
};
const names = (page: { items: { serial: string }[] }) => page.items.map((i) => Object.entries(serials).find(([, s]) => s === i.serial)![0]);

describe("certificate inventory", () => {
  it("lists every intermediate ever issued, newest first, with derived status", async () => {
    const all = await list("");
    expect(names(all)).toEqual(["far1", "west1", "east2", "east1"]);
    expect(all.items.map((i) => i.status)).toEqual(["active", "revoked", "expired", "expired"]);
  });

  it("filters by cluster, trust domain, status, expiry and issue time", async () => {
    expect(names(await list("?cluster=east"))).toEqual(["east2", "east1"]);
    expect(names(await list("?trustDomain=other.example"))).toEqual(["far1"]);
    expect(names(await list("?status=revoked"))).toEqual(["west1"]);
    expect(names(await list("?status=expired"))).toEqual(["east2", "east1"]);
    expect(names(await list("?status=active"))).toEqual(["far1"]);
    expect(names(await list("?status=superseded"))).toEqual([]);
    const t = new Date(T0).getTime();
    expect(names(await list(`?expiresBefore=${new Date(t + 32 * DAY_MS).toISOString()}`))).toEqual(["east2", "east1"]);
    expect(names(await list(`?issuedAfter=${new Date(t + DAY_MS).toISOString()}`))).toEqual(["far1", "west1"]);
    expect(names(await list("?cluster=east&status=active"))).toEqual([]);
  });

  it("pages with an opaque cursor", async () => {
    const p1 = await list("?limit=3");
    expect(names(p1)).toEqual(["far1", "west1", "east2"]);
    const p2 = await list(`?limit=3&cursor=${p1.nextCursor}`);
    expect(names(p2)).toEqual(["east1"]);
    expect(p2.nextCursor).toBeNull();
    for (const bad of ["status=good", "expiresBefore=soon", "cluster=BAD_NAME", "cursor=%%%", "cursor=eyJhIjoieCJ9", "limit=0"]) {
      expect((await app.inject({ url: `/v1/certificates?${bad}`, headers: auth })).statusCode, bad).toBe(400);
    }
  });

  it("shows one certificate with PEM, fingerprints, custody, generation and its history", async () => {
    const res = await app.inject({ url: `/v1/certificates/${serials.east1}`, headers: auth });
    const c = res.json();
    expect(c).toMatchObject({ serial: serials.east1, generation: 1, custody: "escrowed", status: "expired", supersededBy: serials.east2 });
    const fp = (alg: string) => openssl(["x509", "-noout", "-fingerprint", `-${alg}`], c.certificatePem).split("=")[1]!.trim().replace(/:/g, "").toLowerCase();
    expect(c.fingerprints).toEqual({ sha256: fp("sha256"), sha1: fp("sha1") });
    expect(c.history.map((e: { action: string }) => e.action)).toEqual(["intermediate.issue"]);
    const revoked = (await app.inject({ url: `/v1/certificates/${serials.west1}`, headers: auth })).json();
    expect(revoked).toMatchObject({ custody: "external", status: "revoked", revocationReason: "keyCompromise" });
    expect(revoked.history.map((e: { action: string }) => e.action)).toEqual(["intermediate.issue", "intermediate.revoke"]);
    const missing = await app.inject({ url: `/v1/certificates/${"ab".repeat(16)}`, headers: auth });
    expect([missing.statusCode, missing.json().code]).toEqual([404, "certificate_not_found"]);
  });
});

describe("query plans", () => {
  /** Runs the requests, then EXPLAINs each SELECT they ran on `table`. */
  async function plansOf(urls: string[], table: RegExp): Promise<string[][]> {
    statements.length = 0;
    for (const url of urls) expect((await app.inject({ url, headers: auth })).statusCode, url).toBe(200);
    const selects = [...new Set(statements.filter((s) => /^\s*SELECT/i.test(s) && table.test(s)))];
    expect(selects.length).toBeGreaterThan(0);
    return selects.map((sql) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail));
  }

  it("inventory queries use indexes, never a full scan or a sort", async () => {
    const t = new Date(T0).getTime();
    const plans = await plansOf(
      [
        "/v1/certificates?limit=2",
        "/v1/certificates?cluster=east&limit=1",
        "/v1/certificates?trustDomain=cluster.local",
        `/v1/certificates?limit=1&cursor=${(await list("?limit=1")).nextCursor}`,
        `/v1/certificates?status=revoked&expiresBefore=${new Date(t + 400 * DAY_MS).toISOString()}`,
        "/v1/certificates?status=active",
        "/v1/certificates?status=expired&limit=1",
      ],
      /FROM intermediates i\b.*ORDER BY i\.created_at/s,
    );
    for (const plan of plans) {
      if (process.env.SHOW_PLANS) console.log(plan.join("\n"));
      const main = plan.filter((d) => /^(SCAN|SEARCH) i /.test(d));
      expect(main).toHaveLength(1);
      expect(plan.join("\n")).not.toMatch(/SCAN i$/m);
      expect(plan.join("\n")).not.toContain("TEMP B-TREE");
      expect(main.join("\n")).toMatch(/USING (COVERING )?INDEX intermediates_by_/);
    }
  });

  it("audit queries use indexes (or the seq primary key), never a sort", async () => {
    await app.inject({ url: "/v1/audit", headers: auth });
    const plans = await plansOf(
      ["/v1/audit?limit=5", "/v1/audit?action=intermediate.issue", "/v1/audit?cluster=east", "/v1/audit?actor=system", "/v1/audit?trustDomain=cluster.local", `/v1/certificates/${serials.east1}`],
      /FROM audit_events/,
    );
    for (const plan of plans) {
      const text = plan.join("\n");
      expect(text).not.toContain("TEMP B-TREE");
      expect(text).toMatch(/SCAN audit_events$|USING INDEX audit_by_|USING INTEGER PRIMARY KEY/m);
      if (!/SCAN audit_events$/m.test(text)) expect(text).toMatch(/SEARCH audit_events USING (INDEX audit_by_\w+|INTEGER PRIMARY KEY)/);
    }
  });

  it("the rotation due list uses the due index", async () => {
    statements.length = 0;
    await core.rotation.due(0);
    const sql = statements.find((s) => s.includes("rotate_after <="))!;
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join("\n");
    expect(plan).toContain("USING INDEX intermediates_due");
  });

  it("the root CRL reads its entries from the covering index of revoked rows, already in order", async () => {
    statements.length = 0;
    await core.revocation.revoke(serials.east1!, "superseded", TEST_CTX);
    const sql = statements.find((s) => s.includes("status = 'revoked' ORDER BY revoked_at"))!;
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join("\n");
    expect(plan).toContain("USING COVERING INDEX intermediates_revoked_by_root");
    expect(plan).not.toContain("TEMP B-TREE");
  });
});

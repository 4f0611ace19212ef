import { beforeAll, describe, expect, it } from "vitest";
import { loadMigrations, migrate } from "../../src/store/sqlite/migrate.js";
import { openDatabase } from "../../src/store/sqlite/database.js";
import { rowCounts, testApp, TEST_CTX, type TestApp } from "../helpers.js";

let t: TestApp;
/** A provisioner limited to clusters dev-* in trust domain a.example. */
let devA: string;
/** A provisioner created without trustDomains: it may act in none. */
let noDomain: string;

beforeAll(async () => {
  t = await testApp();
  for (const name of ["a.example", "b.example"]) await t.core.trustDomains.create({ name }, TEST_CTX);
  await t.core.clusters.register({ name: "dev-b", trustDomain: "b.example" }, TEST_CTX);
  await t.core.issuance.issue("dev-b", {}, TEST_CTX);
  await t.core.clusters.register({ name: "dev-a", trustDomain: "a.example" }, TEST_CTX);
  const make = async (payload: object) => {
    const res = await t.app.inject({ method: "POST", url: "/v1/tokens", headers: t.auth(), payload });
    expect(res.statusCode, res.body).toBe(201);
    return res.json() as { token: string; trustDomains: string[] };
  };
  const a = await make({ name: "dev a", role: "provisioner", clusters: ["dev-*"], trustDomains: ["a.example"] });
  expect(a.trustDomains).toEqual(["a.example"]);
  devA = a.token;
  const none = await make({ name: "no domain", role: "provisioner" });
  expect(none.trustDomains).toEqual([]);
  noDomain = none.token;
});

const as = (secret: string) => ({ authorization: `Bearer ${secret}` });

/** The request is refused with 403 problem+json, nothing is written, and the refusal is audited. */
async function forbidden(opts: { method: "POST" | "PATCH" | "GET"; url: string; payload?: object }, secret = devA) {
  const before = rowCounts(t.db);
  const denials = (await t.core.audit.list({ action: "request.denied" }, { limit: 1000 })).length;
  const res = await t.app.inject({ ...opts, headers: as(secret) });
  expect(res.statusCode, res.body).toBe(403);
  expect(res.headers["content-type"]).toContain("application/problem+json");
  expect(res.json().code).toBe("forbidden");
  expect(rowCounts(t.db)).toEqual(before);
  const after = await t.core.audit.list({ action: "request.denied" }, { limit: 1000 });
  expect(after.length).toBe(denials + 1);
  expect(after[0]!.details).toMatchObject({ status: 403 });
  return res.json() as { detail: string };
}

describe("provisioner tokens are limited to trust domains", () => {
  it("may not register a cluster its pattern allows in another trust domain", async () => {
    const { detail } = await forbidden({ method: "POST", url: "/v1/clusters", payload: { name: "dev-x", trustDomain: "b.example" } });
    expect(detail).toContain("b.example");
    expect(await t.core.clusters.get("dev-x").catch((e: { code: string }) => e.code)).toBe("cluster_not_found");
    const ok = await t.app.inject({ method: "POST", url: "/v1/clusters", headers: as(devA), payload: { name: "dev-x", trustDomain: "a.example" } });
    expect(ok.statusCode, ok.body).toBe(201);
  });

  it("may not mint, read key material of, or change a cluster of another trust domain", async () => {
    const intermediates = (await t.core.clusters.get("dev-b")).active!.serial;
    await forbidden({ method: "POST", url: "/v1/clusters/dev-b/intermediates", payload: {} });
    expect((await t.core.clusters.get("dev-b")).active!.serial).toBe(intermediates);
    await forbidden({ method: "GET", url: "/v1/clusters/dev-b/cacerts" });
    await forbidden({ method: "PATCH", url: "/v1/clusters/dev-b", payload: { labels: { owner: "mallory" } } });
    expect((await t.core.clusters.get("dev-b")).cluster.labels).toEqual({});
    const mint = await t.app.inject({ method: "POST", url: "/v1/clusters/dev-a/intermediates", headers: as(devA), payload: {} });
    expect(mint.statusCode, mint.body).toBe(201);
  });

  it("runs rotations only in a trust domain it holds, and must name it", async () => {
    await forbidden({ method: "POST", url: "/v1/rotations/run", payload: { dryRun: true, trustDomain: "b.example" } });
    await forbidden({ method: "POST", url: "/v1/rotations/run", payload: { dryRun: true } });
    const ok = await t.app.inject({ method: "POST", url: "/v1/rotations/run", headers: as(devA), payload: { dryRun: true, trustDomain: "a.example" } });
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it("a provisioner token without trustDomains may act in none; ['*'] in all", async () => {
    await forbidden({ method: "POST", url: "/v1/clusters", payload: { name: "any-1", trustDomain: "a.example" } }, noDomain);
    await forbidden({ method: "POST", url: "/v1/clusters/dev-a/intermediates", payload: {} }, noDomain);
    const all = await t.app.inject({ method: "POST", url: "/v1/tokens", headers: t.auth(), payload: { name: "all", role: "provisioner", trustDomains: ["*"] } });
    expect(all.json().trustDomains).toEqual(["*"]);
    const res = await t.app.inject({ method: "POST", url: "/v1/clusters", headers: as(all.json().token), payload: { name: "any-2", trustDomain: "b.example" } });
    expect(res.statusCode, res.body).toBe(201);
  });

  it("refuses trust domains on admin and auditor tokens, and '*' mixed with names", async () => {
    for (const payload of [
      { name: "x", role: "auditor", trustDomains: ["a.example"] },
      { name: "x", role: "admin", trustDomains: ["*"] },
      { name: "x", role: "provisioner", trustDomains: ["*", "a.example"] },
      { name: "x", role: "provisioner", trustDomains: ["Not A Domain"] },
    ]) {
      const res = await t.app.inject({ method: "POST", url: "/v1/tokens", headers: t.auth(), payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().code).toBe("validation_failed");
    }
  });

  it("lists tokens with their trust domains", async () => {
    const res = await t.app.inject({ url: "/v1/tokens?limit=100", headers: t.auth() });
    const byName = Object.fromEntries((res.json().items as { name: string; trustDomains: string[] }[]).map((i) => [i.name, i.trustDomains]));
    expect(byName).toMatchObject({ admin: [], "dev a": ["a.example"], "no domain": [] });
  });
});

describe("migration 0008", () => {
  it("gives existing provisioner tokens every trust domain (['*']) and admin and auditor tokens none", () => {
    const db = openDatabase(":memory:");
    const migrations = loadMigrations();
    migrate(db, migrations.filter((m) => m.version < 8));
    const insert = db.prepare("INSERT INTO api_tokens (id, name, role, cluster_patterns, token_hash, created_at) VALUES (?, ?, ?, '[]', ?, 0)");
    insert.run("t1", "old pipeline", "provisioner", "h1");
    insert.run("t2", "old admin", "admin", "h2");
    insert.run("t3", "old auditor", "auditor", "h3");
    migrate(db, migrations);
    const rows = db.prepare("SELECT id, trust_domains FROM api_tokens ORDER BY id").all();
    expect(rows).toEqual([
      { id: "t1", trust_domains: '["*"]' },
      { id: "t2", trust_domains: "[]" },
      { id: "t3", trust_domains: "[]" },
    ]);
    db.close();
  });
});

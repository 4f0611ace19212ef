import { beforeEach, describe, expect, it } from "vitest";
import { DAY_MS } from "../../src/clock.js";
import { rowCounts, testApp, type TestApp, TEST_CTX } from "../helpers.js";

let t: TestApp;
beforeEach(async () => {
  t = await testApp();
  await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
});

const register = (payload: unknown) => t.app.inject({ method: "POST", url: "/v1/clusters", headers: t.auth(), payload: payload as object });
const get = async (name: string) => (await t.app.inject({ url: `/v1/clusters/${name}`, headers: t.auth() })).json();

describe("clusters", () => {
  it("registers with defaults and reads back as pending", async () => {
    const res = await register({ name: "east", trustDomain: "cluster.local", labels: { region: "eu-west-1", "topology.kubernetes.io/zone": "a" } });
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      name: "east",
      trustDomain: "cluster.local",
      labels: { region: "eu-west-1", "topology.kubernetes.io/zone": "a" },
      policy: { keyAlgorithm: "ecdsa-p256", validityDays: 365, renewBeforeDays: null },
      status: "pending",
      decommissionedAt: null,
      activeIntermediate: null,
    });
    expect(await get("east")).toEqual(res.json());
    const row = t.db.prepare("SELECT trust_domain, validity_days FROM clusters WHERE name = 'east'").get();
    expect(row).toEqual({ trust_domain: "cluster.local", validity_days: 365 });
  });

  it("derives status from the active intermediate and the clock: active, due, expired", async () => {
    await register({ name: "east", trustDomain: "cluster.local", policy: { validityDays: 30, renewBeforeDays: 10 } });
    await t.app.inject({ method: "POST", url: "/v1/clusters/east/intermediates", headers: t.auth(), payload: {} });
    const c = await get("east");
    expect(c.status).toBe("active");
    expect(c.activeIntermediate.generation).toBe(1);
    const rotateAfter = new Date(c.activeIntermediate.rotateAfter).getTime();
    expect(new Date(c.activeIntermediate.notAfter).getTime() - rotateAfter).toBe(10 * DAY_MS);
    t.clock.set(new Date(rotateAfter - 1000));
    expect((await get("east")).status).toBe("active");
    t.clock.set(new Date(rotateAfter));
    expect((await get("east")).status).toBe("due");
    t.clock.set(new Date(new Date(c.activeIntermediate.notAfter).getTime()));
    const expired = await get("east");
    expect(expired.status).toBe("expired");
    expect(expired.activeIntermediate.status).toBe("expired");
  });

  it("patches labels and policy; the policy applies to the next issuance", async () => {
    await register({ name: "east", trustDomain: "cluster.local" });
    const res = await t.app.inject({
      method: "PATCH",
      url: "/v1/clusters/east",
      headers: t.auth(),
      payload: { labels: { env: "prod" }, policy: { keyAlgorithm: "rsa-2048", validityDays: 90 } },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ labels: { env: "prod" }, policy: { keyAlgorithm: "rsa-2048", validityDays: 90, renewBeforeDays: null } });
    const issued = (await t.app.inject({ method: "POST", url: "/v1/clusters/east/intermediates", headers: t.auth(), payload: {} })).json();
    expect(issued.intermediate.keyAlgorithm).toBe("rsa-2048");
  });

  it("lists with a trust-domain filter and pagination", async () => {
    await t.core.trustDomains.create({ name: "other.example" }, TEST_CTX);
    for (const n of ["a1", "a2", "a3"]) await register({ name: n, trustDomain: "cluster.local" });
    await register({ name: "b1", trustDomain: "other.example" });
    const all = (await t.app.inject({ url: "/v1/clusters?limit=2", headers: t.auth() })).json();
    expect(all.items.map((c: { name: string }) => c.name)).toEqual(["a1", "a2"]);
    const rest = (await t.app.inject({ url: `/v1/clusters?limit=2&cursor=${all.nextCursor}`, headers: t.auth() })).json();
    expect(rest.items.map((c: { name: string }) => c.name)).toEqual(["a3", "b1"]);
    const other = (await t.app.inject({ url: "/v1/clusters?trustDomain=other.example", headers: t.auth() })).json();
    expect(other.items.map((c: { name: string }) => c.name)).toEqual(["b1"]);
  });

  it.each([
    [{ name: "East", trustDomain: "cluster.local" }, 400, "validation_failed"],
    [{ name: "east_1", trustDomain: "cluster.local" }, 400, "validation_failed"],
    [{ name: "a".repeat(64), trustDomain: "cluster.local" }, 400, "validation_failed"],
    [{ name: "east", trustDomain: "cluster.local", color: "blue" }, 400, "validation_failed"],
    [{ name: "east", trustDomain: "cluster.local", labels: { "bad key!": "x" } }, 400, "validation_failed"],
    [{ name: "east", trustDomain: "cluster.local", policy: { validityDays: 10, renewBeforeDays: 10 } }, 400, "validation_failed"],
    [{ name: "east", trustDomain: "cluster.local", policy: { keyAlgorithm: "ed25519" } }, 400, "validation_failed"],
    [{ name: "east", trustDomain: "unknown.example" }, 404, "trust_domain_not_found"],
  ])("rejects %j (%i %s) and writes nothing", async (payload, status, code) => {
    const before = rowCounts(t.db);
    const res = await register(payload);
    expect(res.statusCode).toBe(status);
    expect(res.json().code).toBe(code);
    expect(res.json().detail.length).toBeGreaterThan(10);
    expect(rowCounts(t.db)).toEqual(before);
  });

  it("refuses a duplicate cluster and an empty or unknown patch", async () => {
    await register({ name: "east", trustDomain: "cluster.local" });
    const dup = await register({ name: "east", trustDomain: "cluster.local" });
    expect([dup.statusCode, dup.json().code]).toEqual([409, "cluster_exists"]);
    const empty = await t.app.inject({ method: "PATCH", url: "/v1/clusters/east", headers: t.auth(), payload: {} });
    expect(empty.statusCode).toBe(400);
    const unknown = await t.app.inject({ method: "PATCH", url: "/v1/clusters/west", headers: t.auth(), payload: { labels: {} } });
    expect([unknown.statusCode, unknown.json().code]).toEqual([404, "cluster_not_found"]);
    const missing = await t.app.inject({ url: "/v1/clusters/west", headers: t.auth() });
    expect([missing.statusCode, missing.json().code]).toEqual([404, "cluster_not_found"]);
    const badName = await t.app.inject({ url: "/v1/clusters/NOT_A_LABEL", headers: t.auth() });
    expect(badName.statusCode).toBe(400);
    expect(badName.json().errors[0].path).toBe("params.name");
  });
});

import { beforeEach, describe, expect, it } from "vitest";
import { hashToken } from "../../src/core/tokens.js";
import { rowCounts, testApp, type TestApp } from "../helpers.js";

let t: TestApp;
beforeEach(async () => {
  t = await testApp();
});

const create = (payload: unknown) => t.app.inject({ method: "POST", url: "/v1/tokens", headers: t.auth(), payload: payload as object });

describe("API tokens", () => {
  it("creates a token, shows the secret once, stores only its hash, and the token works", async () => {
    const res = await create({ name: "ci east", role: "provisioner", clusters: ["prod-*"], trustDomains: ["cluster.local"], expiresAt: "2027-01-01T00:00:00Z" });
    expect(res.statusCode).toBe(201);
    expect(res.headers["cache-control"]).toBe("no-store");
    const body = res.json();
    expect(body).toMatchObject({ name: "ci east", role: "provisioner", clusters: ["prod-*"], trustDomains: ["cluster.local"], expiresAt: "2027-01-01T00:00:00.000Z", revokedAt: null });
    expect(body.token).toMatch(/^mrt_[A-Za-z0-9_-]{43}$/);
    const row = t.db.prepare("SELECT token_hash FROM api_tokens WHERE id = ?").get(body.id) as { token_hash: string };
    expect(row.token_hash).toBe(hashToken(body.token));
    expect(JSON.stringify(t.db.prepare("SELECT * FROM api_tokens").all())).not.toContain(body.token);
    const list = (await t.app.inject({ url: "/v1/tokens", headers: t.auth() })).json();
    expect(list.items.find((i: { id: string }) => i.id === body.id)).toBeDefined();
    expect(JSON.stringify(list)).not.toContain(body.token);
    const used = await t.app.inject({ url: "/v1/clusters", headers: t.auth(body.token) });
    expect(used.statusCode).toBe(200);
    const after = (await t.app.inject({ url: "/v1/tokens", headers: t.auth() })).json();
    expect(after.items.find((i: { id: string }) => i.id === body.id).lastUsedAt).toBe(t.clock.now().toISOString());
  });

  it("revokes a token: it stops working at once, and revoking again keeps the first time", async () => {
    const { id, token } = (await create({ name: "tmp", role: "auditor" })).json();
    const del = await t.app.inject({ method: "DELETE", url: `/v1/tokens/${id}`, headers: t.auth() });
    expect(del.statusCode).toBe(200);
    const revokedAt = del.json().revokedAt;
    expect(revokedAt).toBe(t.clock.now().toISOString());
    expect((await t.app.inject({ url: "/v1/clusters", headers: t.auth(token) })).statusCode).toBe(401);
    t.clock.advance(5000);
    const again = await t.app.inject({ method: "DELETE", url: `/v1/tokens/${id}`, headers: t.auth() });
    expect(again.json().revokedAt).toBe(revokedAt);
    const missing = await t.app.inject({ method: "DELETE", url: "/v1/tokens/tok_nope", headers: t.auth() });
    expect([missing.statusCode, missing.json().code]).toEqual([404, "token_not_found"]);
  });

  it.each([
    [{ name: "x", role: "root" }, 400],
    [{ name: "", role: "admin" }, 400],
    [{ name: "x", role: "admin", clusters: ["prod-*"] }, 400],
    [{ name: "x", role: "provisioner", clusters: ["Prod_*"] }, 400],
    [{ name: "x", role: "auditor", expiresAt: "tomorrow" }, 400],
    [{ name: "x", role: "auditor", expiresAt: "2020-01-01T00:00:00Z" }, 400],
    [{ name: "x", role: "auditor", secret: "mine" }, 400],
  ])("rejects %j and writes nothing", async (payload, status) => {
    const before = rowCounts(t.db);
    const res = await create(payload);
    expect(res.statusCode).toBe(status);
    expect(res.json().code).toBe("validation_failed");
    expect(rowCounts(t.db)).toEqual(before);
  });
});

import { describe, expect, it } from "vitest";
import { buildApp } from "../../src/http/app.js";
import { testApp, testCore, TEST_CTX } from "../helpers.js";

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

describe("failed-authentication limiter", () => {
  it("limits failures only: a valid token from a limited address is served", async () => {
    const t = await testApp(undefined, { limit: 3, windowMs: 60_000 });
    for (let i = 0; i < 3; i++) expect((await t.app.inject({ url: "/v1/clusters", headers: bearer(`mrt_bad${i}`) })).statusCode).toBe(401);
    const limited = await t.app.inject({ url: "/v1/clusters", headers: bearer("mrt_bad-again") });
    expect(limited.statusCode).toBe(429);
    expect(limited.json().code).toBe("rate_limited");
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect((await t.app.inject({ url: "/v1/clusters" })).statusCode).toBe(429);
    // The admin token from the same address still works while the address is limited.
    const served = await t.app.inject({ url: "/v1/clusters", headers: t.auth() });
    expect(served.statusCode, served.body).toBe(200);
    expect((await t.app.inject({ url: "/v1/clusters", headers: bearer("mrt_bad-after") })).statusCode).toBe(429);
  });

  it("with trustProxy, limits the client address behind the proxy, not the proxy's", async () => {
    const { core, clock } = testCore();
    const build = (trustProxy: boolean) =>
      buildApp({ core, clock, authFailures: { limit: 2, windowMs: 60_000 }, trustProxy, readiness: () => ({ ready: true, checks: {} }) });
    const call = (app: Awaited<ReturnType<typeof build>>, client: string) =>
      app.inject({ url: "/v1/clusters", remoteAddress: "10.0.0.1", headers: { ...bearer("mrt_bad"), "x-forwarded-for": client } });

    const behind = await build(true);
    for (let i = 0; i < 2; i++) expect((await call(behind, "203.0.113.5")).statusCode).toBe(401);
    expect((await call(behind, "203.0.113.5")).statusCode).toBe(429);
    // Another client behind the same proxy is not limited.
    expect((await call(behind, "203.0.113.6")).statusCode).toBe(401);
    const denied = await core.audit.list({ action: "request.denied" }, { limit: 10 });
    expect(denied[0]!.sourceIp).toBe("203.0.113.6");

    // Without it (the default) every client behind the proxy shares the proxy's address.
    const direct = await build(false);
    for (let i = 0; i < 2; i++) expect((await call(direct, `198.51.100.${i}`)).statusCode).toBe(401);
    expect((await call(direct, "198.51.100.9")).statusCode).toBe(429);
  });
});

describe("denial handling fails closed", () => {
  it("answers 503 problem+json (never 500) when a refusal cannot be audited, and still counts it", async () => {
    const t = await testApp(undefined, { limit: 2, windowMs: 60_000 });
    const record = t.core.audit.record;
    t.core.audit.record = async () => {
      throw new Error("This database connection is busy executing a query");
    };
    try {
      for (let i = 0; i < 2; i++) {
        const res = await t.app.inject({ url: "/v1/clusters", headers: bearer(`mrt_bad${i}`) });
        expect(res.statusCode, res.body).toBe(503);
        expect(res.headers["content-type"]).toContain("application/problem+json");
        expect(res.json().code).toBe("auth_unavailable");
      }
      // A refused role check whose audit fails is refused too, not served.
      const { secret } = await t.core.tokens.create({ name: "aud", role: "auditor" }, TEST_CTX);
      const forbidden = await t.app.inject({ method: "POST", url: "/v1/tokens", headers: bearer(secret), payload: { name: "x", role: "admin" } });
      expect(forbidden.statusCode).toBe(503);
    } finally {
      t.core.audit.record = record;
    }
    // Both unaudited failures were counted: the address is now limited.
    expect((await t.app.inject({ url: "/v1/clusters", headers: bearer("mrt_bad3") })).statusCode).toBe(429);
  });

  it("answers 503 problem+json when the token store fails", async () => {
    const t = await testApp();
    const authenticate = t.core.tokens.authenticate;
    t.core.tokens.authenticate = async () => {
      throw new Error("SQLITE_BUSY: database is locked");
    };
    try {
      const res = await t.app.inject({ url: "/v1/clusters", headers: t.auth() });
      expect(res.statusCode, res.body).toBe(503);
      expect(res.headers["content-type"]).toContain("application/problem+json");
      expect(res.json().code).toBe("auth_unavailable");
    } finally {
      t.core.tokens.authenticate = authenticate;
    }
  });
});

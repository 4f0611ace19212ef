import { beforeEach, describe, expect, it } from "vitest";
import { rowCounts, testApp, type TestApp } from "../helpers.js";

let t: TestApp;
beforeEach(async () => {
  t = await testApp();
});

describe("problem+json for malformed requests", () => {
  it("malformed JSON is a 400 invalid_json", async () => {
    const res = await t.app.inject({ method: "POST", url: "/v1/trust-domains", headers: { ...t.auth(), "content-type": "application/json" }, payload: '{"name": ' });
    expect(res.statusCode).toBe(400);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    expect(res.json()).toMatchObject({ code: "invalid_json", status: 400, title: "Bad Request" });
  });

  it("a body over 64 KiB is a 413 and nothing is written", async () => {
    const before = rowCounts(t.db);
    const res = await t.app.inject({ method: "POST", url: "/v1/trust-domains", headers: t.auth(), payload: { name: "a.example", pad: "x".repeat(70_000) } });
    expect([res.statusCode, res.json().code]).toEqual([413, "payload_too_large"]);
    expect(rowCounts(t.db)).toEqual(before);
  });

  it("a non-JSON content type is a 415", async () => {
    const res = await t.app.inject({ method: "POST", url: "/v1/trust-domains", headers: { ...t.auth(), "content-type": "text/plain" }, payload: "name=a" });
    expect([res.statusCode, res.json().code]).toEqual([415, "unsupported_media_type"]);
  });

  it("an unknown route is a 404 problem, without needing a token", async () => {
    const res = await t.app.inject({ url: "/v1/nothing-here" });
    expect([res.statusCode, res.json().code]).toEqual([404, "route_not_found"]);
  });

  it("echoes a caller's X-Request-Id and refuses to echo a hostile one", async () => {
    const ok = await t.app.inject({ url: "/healthz", headers: { "x-request-id": "pipeline-123" } });
    expect(ok.headers["x-request-id"]).toBe("pipeline-123");
    const bad = await t.app.inject({ url: "/healthz", headers: { "x-request-id": "a b\u0001" } });
    expect(bad.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("hides the text of unexpected errors behind the request id", async () => {
    t.core.trustDomains.list = async () => {
      throw new Error("secret internal detail");
    };
    const res = await t.app.inject({ url: "/v1/trust-domains", headers: t.auth() });
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain("secret internal detail");
    expect(res.json()).toMatchObject({ code: "internal_error", requestId: res.headers["x-request-id"] });
  });

  it("readiness reports its checks", async () => {
    const res = await t.app.inject({ url: "/readyz" });
    expect(res.json()).toEqual({ ready: true, checks: { database: true } });
  });
});

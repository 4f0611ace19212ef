import { describe, expect, it } from "vitest";
import { buildApp } from "../../src/http/app.js";
import { testCore, TEST_CTX } from "../helpers.js";

async function app(metricsTokenRequired?: boolean) {
  const { core, clock, metrics } = testCore();
  const built = await buildApp({ core, clock, metrics, metricsTokenRequired, readiness: () => ({ ready: true, checks: {} }) });
  const { secret } = await core.tokens.create({ name: "prometheus", role: "auditor" }, TEST_CTX);
  return { built, secret };
}

describe("MESHROOT_METRICS_TOKEN_REQUIRED", () => {
  it("is off by default: /metrics is public", async () => {
    const { built } = await app();
    expect((await built.inject({ url: "/metrics" })).statusCode).toBe(200);
  });

  it("when on, /metrics needs a valid token (401 problem without one)", async () => {
    const { built, secret } = await app(true);
    const anonymous = await built.inject({ url: "/metrics" });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers["content-type"]).toContain("application/problem+json");
    expect((await built.inject({ url: "/metrics", headers: { authorization: "Bearer mrt_wrong" } })).statusCode).toBe(401);
    const res = await built.inject({ url: "/metrics", headers: { authorization: `Bearer ${secret}` } });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain("# TYPE");
    // Health checks stay public for the orchestrator's probes.
    expect((await built.inject({ url: "/healthz" })).statusCode).toBe(200);
  });
});

import { describe, expect, it } from "vitest";
import { matchesPattern } from "../../src/core/names.js";
import { testApp, TEST_CTX } from "../helpers.js";

/** The review's pattern: as a regex (`.*a.*a…b`) it backtracked for about 3 s against 63 a's. */
const PATHOLOGICAL = "*a*a*a*a*a*a*b";
const GENEROUS_MS = 1_000;

describe("cluster-pattern matching is linear", () => {
  it("matches globs where only * is special", () => {
    expect(matchesPattern("prod-eu-1", "prod-*")).toBe(true);
    expect(matchesPattern("prod-eu-1", "*-eu-*")).toBe(true);
    expect(matchesPattern("prod-eu-1", "*")).toBe(true);
    expect(matchesPattern("prod", "prod*")).toBe(true);
    expect(matchesPattern("prod", "prod")).toBe(true);
    expect(matchesPattern("abcbc", "a*bc")).toBe(true);
    expect(matchesPattern("prod-eu-1", "prod")).toBe(false);
    expect(matchesPattern("dev-1", "prod-*")).toBe(false);
    expect(matchesPattern("ab", "a*b*c")).toBe(false);
    expect(matchesPattern("", "*")).toBe(true);
    expect(matchesPattern("a", "")).toBe(false);
  });

  it(`answers ${PATHOLOGICAL} against 63 characters at once`, () => {
    const started = performance.now();
    expect(matchesPattern("a".repeat(63), PATHOLOGICAL)).toBe(false);
    expect(matchesPattern(`${"a".repeat(62)}b`, PATHOLOGICAL)).toBe(true);
    expect(performance.now() - started).toBeLessThan(GENEROUS_MS);
  });

  it("a provisioner scoped by that pattern is refused a non-matching cluster promptly, and /healthz answers", async () => {
    const t = await testApp();
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    const { secret } = await t.core.tokens.create({ name: "p", role: "provisioner", clusterPatterns: [PATHOLOGICAL], trustDomains: ["*"] }, TEST_CTX);
    const started = performance.now();
    const res = await t.app.inject({
      method: "POST",
      url: "/v1/clusters",
      headers: { authorization: `Bearer ${secret}` },
      payload: { name: "a".repeat(63), trustDomain: "cluster.local" },
    });
    expect(res.statusCode, res.body).toBe(403);
    expect(res.json().code).toBe("forbidden");
    expect(performance.now() - started).toBeLessThan(GENEROUS_MS);
    expect((await t.app.inject({ url: "/healthz" })).statusCode).toBe(200);
  });
});

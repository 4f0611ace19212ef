import { describe, expect, it } from "vitest";
import { errorOffset } from "../../src/http/json-body.js";
import { rowCounts, testApp, TEST_CTX, type TestApp } from "../helpers.js";

/** The errors a newcomer meets first: each says what to send instead, and where it went wrong. */

async function post(t: TestApp, url: string, payload: string, contentType = "application/json") {
  const res = await t.app.inject({ method: "POST", url, headers: { ...t.auth(), "content-type": contentType }, payload });
  return { status: res.statusCode, body: res.json() as { code: string; detail: string; errors?: { path: string; message: string }[] } };
}

describe("request bodies", () => {
  it("415 names the media type to send and the one received", async () => {
    const t = await testApp();
    const res = await post(t, "/v1/trust-domains", "name=a", "text/plain");
    expect([res.status, res.body.code]).toEqual([415, "unsupported_media_type"]);
    expect(res.body.detail).toBe("send the body as application/json (got text/plain)");
  });

  it("invalid JSON says what is wrong and where: line, column and offset", async () => {
    const t = await testApp();
    const cases: [string, RegExp][] = [
      ['{"name": ', /Unexpected end of JSON input at line 1, column 10 \(offset 9\)$/],
      ['{\n  "name": }', /Unexpected token '}' at line 2, column 11 \(offset 12\)$/],
      ['{"name": "a",}', /at line 1, column 14 \(offset 13\)$/],
      ["", /^the body is empty; send a JSON object$/],
    ];
    for (const [payload, detail] of cases) {
      const res = await post(t, "/v1/trust-domains", payload);
      expect([payload, res.status, res.body.code]).toEqual([payload, 400, "invalid_json"]);
      expect(res.body.detail).toMatch(detail);
    }
    const before = rowCounts(t.db);
    const poisoned = await post(t, "/v1/trust-domains", '{"name": "a.example", "__proto__": {"admin": true}}');
    expect([poisoned.status, poisoned.body.code, poisoned.body.detail]).toEqual([400, "invalid_json", "the body holds a __proto__ or constructor.prototype key, which is refused"]);
    expect(rowCounts(t.db)).toEqual(before);
  });

  it("finds the offset when Node's message has none", () => {
    expect(errorOffset('{"a": }', "Unexpected token '}', \"{\"a\": }\" is not valid JSON")).toBe(6);
    expect(errorOffset('[1, 2, x]', "Unexpected token 'x'")).toBe(7);
    expect(errorOffset('{"a": 1', "Unexpected end of JSON input")).toBe(7);
  });

  it("a missing field is 'required', an unknown one is named", async () => {
    const t = await testApp();
    const res = await post(t, "/v1/clusters", '{"name": "east", "trustdomain": "x"}');
    expect([res.status, res.body.code]).toEqual([400, "validation_failed"]);
    expect(res.body.errors).toEqual([
      { path: "body.trustDomain", message: "`trustDomain` is required" },
      { path: "body", message: "unknown field `trustdomain`" },
    ]);
    expect(res.body.detail).toBe("invalid request: body.trustDomain: `trustDomain` is required; body: unknown field `trustdomain`");
  });
});

describe("serials and dates as people type them", () => {
  it("takes a serial as openssl prints it (upper case, with colons) wherever a serial is a parameter", async () => {
    const t = await testApp();
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    await t.core.clusters.register({ name: "east", trustDomain: "cluster.local" }, TEST_CTX);
    const { record } = await t.core.issuance.issue("east", {}, TEST_CTX);
    const upper = record.serial.toUpperCase();
    const colons = upper.match(/../g)!.join(":");
    for (const form of [record.serial, upper, colons]) {
      const res = await t.app.inject({ url: `/v1/certificates/${form}`, headers: t.auth() });
      expect([form, res.statusCode, res.json().serial]).toEqual([form, 200, record.serial]);
    }
    const root = (await t.core.trustDomains.get("cluster.local")).roots[0]!;
    const rootColons = root.serial.toUpperCase().match(/../g)!.join(":");
    expect((await t.app.inject({ url: `/v1/trust-domains/cluster.local/roots/${rootColons}/certificate` })).statusCode).toBe(200);
    const revoke = await t.app.inject({ method: "POST", url: `/v1/certificates/${colons}/revoke`, headers: t.auth(), payload: { reason: "superseded" } });
    expect([revoke.statusCode, revoke.json().serial]).toEqual([200, record.serial]);
    const bad = await t.app.inject({ url: "/v1/certificates/67:0A:B", headers: t.auth() });
    expect([bad.statusCode, bad.json().errors[0].message]).toEqual([400, expect.stringContaining("as openssl prints it")]);
  });

  it("takes a date where a date-time is asked, as midnight UTC, and RFC 3339 offsets", async () => {
    const t = await testApp();
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    await t.core.clusters.register({ name: "east", trustDomain: "cluster.local" }, TEST_CTX);
    await t.core.issuance.issue("east", {}, TEST_CTX);
    const count = async (q: string) => {
      const res = await t.app.inject({ url: `/v1/certificates?${q}`, headers: t.auth() });
      expect(res.statusCode, res.body).toBe(200);
      return (res.json() as { items: unknown[] }).items.length;
    };
    const now = t.clock.now();
    const day = (offsetDays: number) => new Date(now.getTime() + offsetDays * 86_400_000).toISOString().slice(0, 10);
    expect(await count(`expiresBefore=${day(400)}`)).toBe(1);
    expect(await count(`expiresBefore=${day(300)}`)).toBe(0);
    expect(await count(`issuedAfter=${day(-1)}`)).toBe(1);
    expect(await count(`issuedAfter=${day(1)}`)).toBe(0);
    expect(await count(`issuedAfter=${encodeURIComponent(`${day(1)}T01:00:00+02:00`)}`)).toBe(0);
    const audit = await t.app.inject({ url: `/v1/audit?since=${day(-1)}&until=${day(1)}`, headers: t.auth() });
    expect([audit.statusCode, (audit.json() as { items: unknown[] }).items.length > 0]).toEqual([200, true]);
    const bad = await t.app.inject({ url: "/v1/certificates?expiresBefore=next-week", headers: t.auth() });
    expect([bad.statusCode, bad.json().errors[0].message]).toEqual([400, "must be a date (2027-03-01) or an RFC 3339 date-time (2027-03-01T00:00:00Z)"]);
  });
});

describe("cluster names and dry runs", () => {
  it("says a decommissioned cluster's name is never reused, and a live one's trust domain", async () => {
    const t = await testApp();
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    await t.core.clusters.register({ name: "east", trustDomain: "cluster.local" }, TEST_CTX);
    await t.core.clusters.register({ name: "west", trustDomain: "cluster.local" }, TEST_CTX);
    await t.core.revocation.decommission("east", TEST_CTX);
    const again = await post(t, "/v1/clusters", JSON.stringify({ name: "east", trustDomain: "cluster.local" }));
    expect([again.status, again.body.code]).toEqual([409, "cluster_exists"]);
    expect(again.body.detail).toMatch(/^the name east belongs to a cluster decommissioned at .*; a name is never reused .* register the cluster under a new name$/);
    const live = await post(t, "/v1/clusters", JSON.stringify({ name: "west", trustDomain: "cluster.local" }));
    expect(live.body.detail).toBe("cluster west already exists (trust domain cluster.local)");
  });
});

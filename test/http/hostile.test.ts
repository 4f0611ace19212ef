import fc from "fast-check";
import type { InjectOptions } from "fastify";
import { beforeAll, describe, expect, it } from "vitest";
import { makeCsr, rowCounts, testApp, TEST_CTX, type TestApp } from "../helpers.js";

let t: TestApp;
let validCsr: string;
let counts: Record<string, number>;

beforeAll(async () => {
  t = await testApp();
  await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
  await t.core.clusters.register({ name: "east", trustDomain: "cluster.local" }, TEST_CTX);
  await t.core.issuance.issue("east", {}, TEST_CTX);
  validCsr = (await makeCsr()).pem;
});

/** Every table but the audit trail (refusals are audited by design). */
const state = () => rowCounts(t.db);

/** Sends a request; it must be a 4xx problem, and nothing may change. */
async function refused(opts: InjectOptions) {
  const res = await t.app.inject(opts);
  expect(res.statusCode, `${opts.method} ${opts.url} → ${res.body.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(res.statusCode, `${opts.method} ${opts.url} → ${res.body.slice(0, 300)}`).toBeLessThan(500);
  expect(res.headers["content-type"]).toContain("application/problem+json");
  expect(state()).toEqual(counts);
  return res;
}

/** The CSR's DER with one bit of its signature flipped. */
const flipNearEnd = (pem: string) => {
  const bytes = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
  bytes[bytes.length - 4]! ^= 0x01;
  return bytes.toString("base64");
};
const pemOf = (label: string, body: string) => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
const der = (bytes: number[]) => Buffer.from(bytes).toString("base64");

/** Strings full of what breaks parsers: unicode, control characters, separators, huge. */
const nasty = fc.oneof(
  fc.string({ unit: "binary", maxLength: 80 }),
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.constantFrom("", " ", "\u0000", "../..", "%2e%2e", "a".repeat(300), "東京", "e\u0301ast", "EAST", "-east", "east-", "prod-*", "\ud800", "null", "0"),
);

const jsonValue = fc.jsonValue({ maxDepth: 3 });

/** Percent-encodes every UTF-8 byte (lone surrogates included, as U+FFFD). */
const encode = (s: string) => [...Buffer.from(s, "utf8")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");

describe("hostile input: always a 4xx problem, never a 5xx, nothing written", () => {
  beforeAll(() => {
    counts = state();
  });

  it("random and mutated JSON bodies on every POST/PATCH route", async () => {
    const routes: [InjectOptions["method"], string, Record<string, unknown>][] = [
      ["POST", "/v1/trust-domains", { name: "x.example", root: { keyAlgorithm: "ecdsa-p256", validityDays: 10, organization: "O" } }],
      ["POST", "/v1/clusters", { name: "new-one", trustDomain: "cluster.local", labels: { a: "b" }, policy: { validityDays: 10 } }],
      ["PATCH", "/v1/clusters/east", { labels: { a: "b" }, policy: { renewBeforeDays: 3 } }],
      ["POST", "/v1/clusters/east/intermediates", { csrPem: "x" }],
      ["POST", "/v1/tokens", { name: "n", role: "auditor", clusters: ["a"] }],
      ["POST", "/v1/certificates/00ff/revoke", { reason: "keyCompromise" }],
      ["POST", "/v1/rotations/run", { dryRun: "yes" }],
    ];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), fc.oneof(jsonValue, fc.constant("MUTATE")), fc.string({ maxLength: 12 }), jsonValue, async ([method, url, valid], body, key, value) => {
        // A mutation keeps the valid shape but puts a wrong value (or an unknown field) in one place.
        const payload = body === "MUTATE" ? { ...valid, [Object.keys(valid)[key.length % Object.keys(valid).length] ?? key]: value, ...(key ? { [`x${key}`]: 1 } : {}) } : body;
        const res = await t.app.inject({ method, url, headers: { ...t.auth(), "content-type": "application/json" }, payload: JSON.stringify(payload) });
        expect(res.statusCode, `${method} ${url} ${JSON.stringify(payload).slice(0, 200)} → ${res.body.slice(0, 200)}`).toBeLessThan(500);
        if (res.statusCode >= 400) expect(state()).toEqual(counts);
        else counts = state();
      }),
      { numRuns: 300 },
    );
  });

  it("raw bytes that are not JSON", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
        await refused({ method: "POST", url: "/v1/clusters", headers: { ...t.auth(), "content-type": "application/json" }, payload: Buffer.from([0x7b, ...bytes]) });
      }),
      { numRuns: 100 },
    );
  });

  it("path parameters and query strings", async () => {
    const paths = ["/v1/clusters/%s", "/v1/clusters/%s/intermediates", "/v1/clusters/%s/cacerts", "/v1/trust-domains/%s", "/v1/trust-domains/%s/bundle", "/v1/trust-domains/%s/crl", "/v1/certificates/%s", "/v1/tokens/%s"];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...paths), nasty, async (path, param) => {
        const url = path.replace("%s", encode(param) || "%20");
        const method = path === "/v1/tokens/%s" ? "DELETE" : "GET";
        const res = await t.app.inject({ method, url, headers: t.auth() });
        expect(res.statusCode, `${url} → ${res.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
        expect(res.statusCode).toBeLessThan(500);
      }),
      { numRuns: 300 },
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("/v1/clusters", "/v1/certificates", "/v1/audit", "/v1/clusters/east/cacerts", "/v1/rotations/due"), fc.dictionary(nasty, nasty, { maxKeys: 3 }), async (url, query) => {
        const qs = Object.entries(query).map(([k, v]) => `${encode(k)}=${encode(v)}`).join("&");
        const res = await t.app.inject({ url: `${url}?${qs}`, headers: t.auth() });
        expect(res.statusCode, `${url}?${qs} → ${res.body.slice(0, 200)}`).toBeLessThan(500);
      }),
      { numRuns: 300 },
    );
    expect(state()).toEqual(counts);
  });

  it("Authorization headers", async () => {
    const app = await testApp();
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 600 }), fc.string({ unit: "binary-ascii", maxLength: 100 }).map((s) => `Bearer ${s}`)), async (header) => {
        const clean = header.replace(/[^\x20-\x7e\t]/g, "");
        const res = await app.app.inject({ url: "/v1/clusters", headers: { authorization: clean, "x-forwarded-for": "ignored" } });
        expect([401, 429]).toContain(res.statusCode);
      }),
      { numRuns: 200 },
    );
  });

  it("PEM with broken base64, DER truncated or with huge lengths, CSRs with wrong signatures or absurd keys", async () => {
    const truncated = validCsr.replace(/-----[^-]+-----|\s/g, "").slice(0, 120);
    const bodies = [
      pemOf("CERTIFICATE REQUEST", "@@@@not base64@@@@"),
      pemOf("CERTIFICATE REQUEST", "QUJD"),
      pemOf("CERTIFICATE REQUEST", der([0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x02, 0x01, 0x00])),
      pemOf("CERTIFICATE REQUEST", der([0x30, 0x89, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])),
      pemOf("CERTIFICATE REQUEST", der([0x30, 0x80, 0x30, 0x80, 0x30, 0x80, 0x00, 0x00])),
      pemOf("CERTIFICATE REQUEST", truncated.slice(0, truncated.length - (truncated.length % 4))),
      pemOf("CERTIFICATE REQUEST", Buffer.alloc(30_000, 0x30).toString("base64").slice(0, 30_000)),
      pemOf("CERTIFICATE REQUEST", flipNearEnd(validCsr)),
      `${validCsr}${validCsr}`,
      validCsr.replace("CERTIFICATE REQUEST-----\n", "CERTIFICATE REQUEST-----\nProc-Type: 4,ENCRYPTED\n\n"),
      "-----BEGIN CERTIFICATE REQUEST-----\n" + "A".repeat(100),
    ];
    for (const csrPem of bodies) {
      await refused({ method: "POST", url: "/v1/clusters/east/intermediates", headers: t.auth(), payload: { csrPem } });
    }
    await refused({ method: "POST", url: "/v1/trust-domains", headers: t.auth(), payload: { name: "imp.example", import: { certificatePem: bodies[3]!, privateKeyPem: bodies[2]! } } });
  });

  it("a 10 MB body is a 413, whatever it holds", async () => {
    const big = Buffer.alloc(10 * 1024 * 1024, 0x61);
    const res = await refused({ method: "POST", url: "/v1/clusters", headers: { ...t.auth(), "content-type": "application/json" }, payload: big });
    expect(res.statusCode).toBe(413);
    const pem = await refused({ method: "PUT", url: "/v1/clusters/east/intermediates/00ff/crl", headers: { ...t.auth(), "content-type": "application/pkix-crl" }, payload: big });
    expect(pem.statusCode).toBe(413);
  });
});

describe("bad tokens are rate-limited and audited", () => {
  it("after 20 failures from one address, its failures get 429 with Retry-After until the window ends; a good token is still served", async () => {
    const a = await testApp(undefined, { limit: 20, windowMs: 60_000 });
    const bad = () => a.app.inject({ url: "/v1/clusters", headers: { authorization: "Bearer mrt_guess" } });
    for (let i = 0; i < 20; i++) expect((await bad()).statusCode).toBe(401);
    const limited = await bad();
    expect(limited.statusCode).toBe(429);
    expect(limited.json().code).toBe("rate_limited");
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect(Number(limited.headers["retry-after"])).toBeLessThanOrEqual(60);
    expect((await a.app.inject({ url: "/v1/clusters", headers: a.auth() })).statusCode).toBe(200);
    // Public routes stay open.
    expect((await a.app.inject({ url: "/healthz" })).statusCode).toBe(200);
    const events = a.db.prepare("SELECT action, outcome FROM audit_events WHERE action LIKE 'request.%'").all() as { action: string }[];
    expect(events.filter((e) => e.action === "request.denied")).toHaveLength(20);
    expect(events.filter((e) => e.action === "request.rate_limited")).toHaveLength(1);
    a.clock.advance(61_000);
    expect((await bad()).statusCode).toBe(401);
  });
});

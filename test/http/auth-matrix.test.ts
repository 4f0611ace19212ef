import { beforeAll, describe, expect, it } from "vitest";
import { DAY_MS } from "../../src/clock.js";
import * as x509 from "@peculiar/x509";
import { signCrl } from "../x509/reference.js";
import { crypto, makeCsr, testApp, type TestApp, TEST_CTX } from "../helpers.js";

type Access = "public" | "any" | "provisioner" | "auditor" | "admin";
type Caller = "none" | "garbage" | "revoked" | "expired" | "admin" | "provisioner" | "scopedIn" | "scopedOut" | "auditor";

interface RouteCase {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  access: Access;
  ok: number;
  url: () => string | Promise<string>;
  body?: () => unknown | Promise<unknown>;
  contentType?: string;
  /** A provisioner route that filters by scope instead of refusing (rotation runs). */
  filtersByScope?: boolean;
}

const callers: Caller[] = ["none", "garbage", "revoked", "expired", "admin", "provisioner", "scopedIn", "scopedOut", "auditor"];
const callersCount = callers.length;
let seq = 0;
const next = () => ++seq;

let t: TestApp;
/** An external-custody intermediate whose key the test holds, to sign CRL uploads with. */
const external = { serial: "", crl: (): Buffer => Buffer.alloc(0) };
const secrets = {} as Record<Caller, string | undefined>;
/** cluster.local's root-cert.pem: what prod-a reports it loaded. */
let bundlePem = "";

const routes: RouteCase[] = [
  { method: "POST", path: "/v1/trust-domains", access: "admin", ok: 201, url: () => "/v1/trust-domains", body: () => ({ name: `td${next()}.example` }) },
  { method: "GET", path: "/v1/trust-domains", access: "any", ok: 200, url: () => "/v1/trust-domains" },
  { method: "GET", path: "/v1/trust-domains/{name}", access: "any", ok: 200, url: () => "/v1/trust-domains/cluster.local" },
  { method: "GET", path: "/v1/trust-domains/{name}/bundle", access: "public", ok: 200, url: () => "/v1/trust-domains/cluster.local/bundle" },
  { method: "PATCH", path: "/v1/trust-domains/{name}", access: "admin", ok: 200, url: () => "/v1/trust-domains/cluster.local", body: () => ({ caCrl: false }) },
  { method: "POST", path: "/v1/clusters", access: "provisioner", ok: 201, url: () => "/v1/clusters", body: () => ({ name: `prod-n${next()}`, trustDomain: "cluster.local" }) },
  { method: "GET", path: "/v1/clusters", access: "any", ok: 200, url: () => "/v1/clusters" },
  { method: "GET", path: "/v1/clusters/{name}", access: "any", ok: 200, url: () => "/v1/clusters/prod-a" },
  { method: "PATCH", path: "/v1/clusters/{name}", access: "provisioner", ok: 200, url: () => "/v1/clusters/prod-a", body: () => ({ labels: { n: String(next()) } }) },
  { method: "POST", path: "/v1/clusters/{name}/intermediates", access: "provisioner", ok: 201, url: () => "/v1/clusters/prod-a/intermediates", body: () => ({}) },
  { method: "GET", path: "/v1/clusters/{name}/intermediates", access: "any", ok: 200, url: () => "/v1/clusters/prod-a/intermediates" },
  // A staged rotation's prepared intermediate whose peers never reported: a caller allowed through reaches the gate (409).
  { method: "POST", path: "/v1/clusters/{name}/intermediates/{serial}/activate", access: "provisioner", ok: 409, url: async () => `/v1/clusters/prod-s/intermediates/${await staged()}/activate`, body: () => ({}) },
  { method: "PUT", path: "/v1/clusters/{name}/observation", access: "provisioner", ok: 200, url: () => "/v1/clusters/prod-a/observation", body: () => ({ rootCertPem: bundlePem }) },
  { method: "GET", path: "/v1/fleet", access: "any", ok: 200, url: () => "/v1/fleet" },
  { method: "GET", path: "/v1/clusters/{name}/observation", access: "any", ok: 200, url: () => "/v1/clusters/prod-a/observation" },
  { method: "GET", path: "/v1/clusters/{name}/cacerts", access: "provisioner", ok: 200, url: () => "/v1/clusters/prod-a/cacerts" },
  { method: "POST", path: "/v1/tokens", access: "admin", ok: 201, url: () => "/v1/tokens", body: () => ({ name: "t", role: "auditor" }) },
  { method: "GET", path: "/v1/tokens", access: "admin", ok: 200, url: () => "/v1/tokens" },
  {
    method: "DELETE",
    path: "/v1/tokens/{id}",
    access: "admin",
    ok: 200,
    url: async () => `/v1/tokens/${(await t.core.tokens.create({ name: "victim", role: "auditor" }, TEST_CTX)).record.id}`,
  },
  {
    method: "POST",
    path: "/v1/certificates/{serial}/revoke",
    access: "admin",
    ok: 200,
    url: async () => `/v1/certificates/${(await t.core.issuance.issue("prod-r", {}, TEST_CTX)).record.serial}/revoke`,
    body: () => ({ reason: "superseded" }),
  },
  {
    method: "DELETE",
    path: "/v1/clusters/{name}",
    access: "admin",
    ok: 200,
    url: async () => `/v1/clusters/${(await t.core.clusters.register({ name: `prod-d${next()}`, trustDomain: "cluster.local" }, TEST_CTX)).cluster.name}`,
  },
  { method: "GET", path: "/v1/trust-domains/{name}/crl", access: "public", ok: 200, url: () => "/v1/trust-domains/cluster.local/crl" },
  {
    method: "GET",
    path: "/v1/trust-domains/{name}/roots/{serial}/certificate",
    access: "public",
    ok: 200,
    url: async () => `/v1/trust-domains/cluster.local/roots/${(await t.core.trustDomains.get("cluster.local")).roots[0]!.serial}/certificate`,
  },
  {
    method: "PUT",
    path: "/v1/clusters/{name}/intermediates/{serial}/crl",
    access: "provisioner",
    ok: 200,
    url: () => `/v1/clusters/prod-x/intermediates/${external.serial}/crl`,
    body: () => external.crl(),
    contentType: "application/pkix-crl",
  },
  { method: "GET", path: "/v1/rotations/due", access: "any", ok: 200, url: () => "/v1/rotations/due?within=30d" },
  { method: "POST", path: "/v1/rotations/run", access: "provisioner", ok: 200, url: () => "/v1/rotations/run", body: () => ({ dryRun: true, trustDomain: "cluster.local" }), filtersByScope: true },
  { method: "GET", path: "/v1/audit", access: "auditor", ok: 200, url: () => "/v1/audit?limit=5" },
  { method: "GET", path: "/v1/audit/export", access: "auditor", ok: 200, url: () => "/v1/audit/export?action=cluster.create" },
  { method: "GET", path: "/v1/audit/verify", access: "auditor", ok: 200, url: () => "/v1/audit/verify" },
  { method: "GET", path: "/v1/certificates", access: "auditor", ok: 200, url: () => "/v1/certificates?limit=5" },
  {
    method: "GET",
    path: "/v1/certificates/{serial}",
    access: "auditor",
    ok: 200,
    url: async () => `/v1/certificates/${(await t.core.clusters.get("prod-a")).active!.serial}`,
  },
  { method: "POST", path: "/v1/trust-domains/{name}/root-rotation", access: "admin", ok: 201, url: async () => `/v1/trust-domains/${await rotating()}/root-rotation`, body: () => ({}) },
  { method: "GET", path: "/v1/trust-domains/{name}/root-rotation", access: "auditor", ok: 200, url: async () => `/v1/trust-domains/${await rotating("prepared")}/root-rotation` },
  { method: "POST", path: "/v1/trust-domains/{name}/root-rotation/advance", access: "admin", ok: 200, url: async () => `/v1/trust-domains/${await rotating("prepared")}/root-rotation/advance`, body: () => ({}) },
  { method: "POST", path: "/v1/trust-domains/{name}/root-rotation/rollback", access: "admin", ok: 200, url: async () => `/v1/trust-domains/${await rotating("prepared")}/root-rotation/rollback`, body: () => ({}) },
  {
    method: "POST",
    path: "/v1/trust-domains/{name}/root-rotation/clusters/{cluster}/switch",
    access: "admin",
    ok: 200,
    url: async () => {
      const td = await rotating("sign-new");
      return `/v1/trust-domains/${td}/root-rotation/clusters/${clusterOf(td)}/switch`;
    },
  },
  {
    method: "POST",
    path: "/v1/trust-domains/{name}/root-rotation/clusters/{cluster}/csr",
    access: "admin",
    ok: 201,
    url: async () => {
      const td = await rotating("prepared", true);
      return `/v1/trust-domains/${td}/root-rotation/clusters/${clusterOf(td)}/csr`;
    },
    body: async () => ({ csrPem: (await makeCsr()).pem }),
  },
  {
    method: "GET",
    path: "/v1/trust-domains/{name}/roots/{serial}/crl",
    access: "public",
    ok: 200,
    url: async () => `/v1/trust-domains/cluster.local/roots/${(await t.core.trustDomains.get("cluster.local")).roots[0]!.serial}/crl`,
  },
  { method: "GET", path: "/healthz", access: "public", ok: 200, url: () => "/healthz" },
  { method: "GET", path: "/metrics", access: "public", ok: 200, url: () => "/metrics" },
  { method: "GET", path: "/readyz", access: "public", ok: 200, url: () => "/readyz" },
];

/**
 * A fresh trust domain with one cluster c1 (escrowed, or external with a CSR-issued intermediate),
 * and a root rotation brought to `phase` by forced steps (none: no rotation).
 */
async function rotating(phase?: "prepared" | "sign-new", external = false): Promise<string> {
  const name = `rot${next()}.example`;
  await t.core.trustDomains.create({ name }, TEST_CTX);
  await t.core.clusters.register({ name: clusterOf(name), trustDomain: name }, TEST_CTX);
  return phase === undefined ? name : advanceTo(name, phase, external);
}

const clusterOf = (trustDomain: string) => `c-${trustDomain.split(".")[0]}`;

let stagedSerial: string | undefined;
/** prod-s's prepared intermediate, staged while cluster.local had caCrl (its peers never reported: the lead time holds it back). */
async function staged(): Promise<string> {
  if (stagedSerial) return stagedSerial;
  await t.core.trustDomains.update("cluster.local", { caCrl: true }, TEST_CTX);
  await t.core.clusters.register({ name: "prod-s", trustDomain: "cluster.local" }, TEST_CTX);
  await t.core.issuance.issue("prod-s", {}, TEST_CTX);
  const prepared = await t.core.issuance.issue("prod-s", {}, TEST_CTX);
  await t.core.trustDomains.update("cluster.local", { caCrl: false }, TEST_CTX);
  expect(prepared.record.status).toBe("prepared");
  return (stagedSerial = prepared.record.serial);
}

async function advanceTo(name: string, phase: "prepared" | "sign-new", external: boolean): Promise<string> {
  await t.core.issuance.issue(clusterOf(name), external ? { csrPem: (await makeCsr()).pem } : {}, TEST_CTX);
  await t.core.rootRotation.start(name, {}, TEST_CTX);
  if (phase === "sign-new") for (let i = 0; i < 2; i++) await t.core.rootRotation.advance(name, { force: true, reason: "test" }, TEST_CTX);
  return name;
}

function expected({ access, ok, filtersByScope }: RouteCase, caller: Caller): number {
  if (access === "public") return ok;
  if (caller === "none" || caller === "garbage" || caller === "revoked" || caller === "expired") return 401;
  if (access === "any") return ok;
  if (caller === "admin") return ok;
  if (access === "auditor") return caller === "auditor" ? ok : 403;
  if (access === "admin" || caller === "auditor") return 403;
  return caller === "scopedOut" && !filtersByScope ? 403 : ok;
}

beforeAll(async () => {
  t = await testApp();
  await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
  bundlePem = await t.core.trustDomains.bundlePem("cluster.local");
  await t.core.clusters.register({ name: "prod-a", trustDomain: "cluster.local" }, TEST_CTX);
  await t.core.issuance.issue("prod-a", {}, TEST_CTX);
  await t.core.clusters.register({ name: "prod-r", trustDomain: "cluster.local" }, TEST_CTX);
  await t.core.clusters.register({ name: "prod-x", trustDomain: "cluster.local" }, TEST_CTX);
  const csr = await makeCsr();
  const issued = await t.core.issuance.issue("prod-x", { csrPem: csr.pem }, TEST_CTX);
  const interCert = new x509.X509Certificate(issued.record.certPem);
  external.serial = issued.record.serial;
  const crls: Buffer[] = [];
  for (let n = 1; n <= callersCount; n++) {
    const crl = await signCrl(
      {
        signer: { cert: interCert, keyAlgorithm: "ecdsa-p256", keyId: "", privateKey: csr.keys.privateKey },
        number: n,
        thisUpdate: t.clock.now(),
        nextUpdate: new Date(t.clock.now().getTime() + 30 * DAY_MS),
        entries: [],
      });
    crls.push(Buffer.from(crl.rawData));
  }
  external.crl = () => crls.shift()!;
  const make = async (role: "provisioner" | "auditor", clusterPatterns?: string[], trustDomains?: string[]) =>
    (await t.core.tokens.create({ name: role, role, clusterPatterns, trustDomains }, TEST_CTX)).secret;
  secrets.none = undefined;
  secrets.garbage = "mrt_not-a-real-token";
  secrets.admin = t.admin;
  secrets.provisioner = await make("provisioner", undefined, ["*"]);
  secrets.scopedIn = await make("provisioner", ["prod-*"], ["cluster.local"]);
  secrets.scopedOut = await make("provisioner", ["dev-*", "staging"], ["cluster.local"]);
  secrets.auditor = await make("auditor");
  const revoked = await t.core.tokens.create({ name: "revoked", role: "admin" }, TEST_CTX);
  await t.core.tokens.revoke(revoked.record.id, TEST_CTX);
  secrets.revoked = revoked.secret;
  const expired = await t.core.tokens.create({ name: "expired", role: "admin", expiresAt: new Date(t.clock.now().getTime() + 1000) }, TEST_CTX);
  secrets.expired = expired.secret;
  t.clock.advance(2000);
});


describe("authorization matrix: every route × every caller", () => {
  it("covers every route in the OpenAPI document", async () => {
    const doc = (await t.app.inject({ url: "/openapi.json" })).json() as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    expect(routes.map((r) => `${r.method} ${r.path}`).sort()).toEqual(documented.sort());
  });

  for (const route of routes) {
    for (const caller of callers) {
      const want = expected(route, caller);
      it(`${route.method} ${route.path} as ${caller} → ${want}`, async () => {
        const secret = secrets[caller];
        const res = await t.app.inject({
          method: route.method,
          url: await route.url(),
          headers: {
            ...(secret ? { authorization: `Bearer ${secret}` } : {}),
            ...(route.contentType ? { "content-type": route.contentType } : {}),
          },
          ...(route.body ? { payload: (await route.body()) as object } : {}),
        });
        expect(res.statusCode, res.body).toBe(want);
        if (want === 401 || want === 403) {
          expect(res.headers["content-type"]).toContain("application/problem+json");
          expect(res.json().code).toBe(want === 401 ? "unauthorized" : "forbidden");
        }
        if (want === 401) expect(res.headers["www-authenticate"]).toContain("Bearer");
      });
    }
  }

  it("tells the caller only that a token is not valid; the audit event keeps why", async () => {
    const get = async (secret: string) => (await t.app.inject({ url: "/v1/clusters", headers: { authorization: `Bearer ${secret}` } })).json().detail;
    // Revoked, expired and never-issued tokens read the same: whether a token once existed is not the caller's to learn.
    expect(await get(secrets.revoked!)).toBe("the token is not valid");
    expect(await get(secrets.expired!)).toBe("the token is not valid");
    expect(await get(secrets.garbage!)).toBe("the token is not valid");
    const reasons = (await t.core.audit.list({ action: "request.denied" }, { limit: 1000 })).map((e) => String(e.details.reason));
    expect(reasons.some((r) => /has been revoked/.test(r))).toBe(true);
    expect(reasons.some((r) => /has expired/.test(r))).toBe(true);
    const res = await t.app.inject({ url: "/v1/clusters", headers: { authorization: `Basic ${secrets.admin}` } });
    expect(res.statusCode).toBe(401);
    expect(res.json().detail).toMatch(/Bearer/);
  });

  it("a scoped provisioner may not register a cluster outside its patterns, and nothing is written", async () => {
    const res = await t.app.inject({
      method: "POST",
      url: "/v1/clusters",
      headers: { authorization: `Bearer ${secrets.scopedIn}` },
      payload: { name: "dev-x", trustDomain: "cluster.local" },
    });
    expect(res.statusCode).toBe(403);
    expect(res.json().detail).toContain("prod-*");
    expect(await t.core.clusters.get("dev-x").catch((e: { code: string }) => e.code)).toBe("cluster_not_found");
  });

  it("expiry is checked against the injected clock", async () => {
    const tok = await t.core.tokens.create({ name: "soon", role: "auditor", expiresAt: new Date(t.clock.now().getTime() + DAY_MS) }, TEST_CTX);
    const call = () => t.app.inject({ url: "/v1/clusters", headers: { authorization: `Bearer ${tok.secret}` } });
    expect((await call()).statusCode).toBe(200);
    t.clock.advance(DAY_MS);
    expect((await call()).statusCode).toBe(401);
  });
});

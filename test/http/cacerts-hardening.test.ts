import * as x509 from "@peculiar/x509";
import { beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DomainError } from "../../src/errors.js";
import { MAX_SECRET_DATA_BYTES, renderCacertsSecret } from "../../src/istio/cacerts.js";
import { sqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { coreOver, makeCsr, rowCounts, testApp, type TestApp, TEST_CTX } from "../helpers.js";

/** Issue 16 through HTTP: items 5 and 13, and the sealed-key swap the mutation review asked for. */
let t: TestApp;
beforeEach(async () => {
  t = await testApp();
  await t.core.trustDomains.create({ name: "mesh.example.com" }, TEST_CTX);
  for (const c of ["east", "west", "north"]) await t.core.clusters.register({ name: c, trustDomain: "mesh.example.com" }, TEST_CTX);
});

const get = (url: string) => t.app.inject({ method: "GET", url, headers: t.auth() });
const issue = (cluster: string, payload: object = {}, headers: Record<string, string> = {}) =>
  t.app.inject({ method: "POST", url: `/v1/clusters/${cluster}/intermediates`, headers: { ...t.auth(), ...headers }, payload });
const crlsOf = (pem: string) => [...pem.matchAll(/-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----/g)].map((m) => new x509.X509Crl(m[0]));
const caCrl = (body: string) => Buffer.from((parse(body) as { data: Record<string, string> }).data["ca-crl.pem"]!, "base64").toString("utf8");
const events = () => (t.db.prepare("SELECT COUNT(*) AS n FROM audit_events").get() as { n: number }).n;
const samples = (text: string) => new Map(text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => [l.slice(0, l.lastIndexOf(" ")), Number(l.slice(l.lastIndexOf(" ") + 1))]));

describe("ca-crl.pem with an external intermediate that has no current CRL (item 5)", () => {
  it("crl=true leaves it out and names it (header, metric); crl=strict refuses; revoking it clears it", async () => {
    expect((await issue("east")).statusCode).toBe(201);
    const ext = (await issue("north", { csrPem: (await makeCsr()).pem })).json().intermediate;
    // Superseding the stale issuer does not end its workloads: it stays named until it is revoked.
    const ext2 = (await issue("north")).json().intermediate;

    const res = await get("/v1/clusters/east/cacerts?crl=true");
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers["meshroot-crl-missing"]).toBe(ext.serial);
    const crls = crlsOf(caCrl(res.body));
    expect(crls).toHaveLength(3); // the root's, east's and north generation 2's
    expect(crls.map((c) => c.issuer)).not.toContain(new x509.X509Certificate(ext.certificatePem).subject);
    expect(crls.filter((c) => c.issuer.includes("L=north")).map((c) => c.issuer)).toEqual([new x509.X509Certificate(ext2.certificatePem).subject]);

    const strict = await get("/v1/clusters/east/cacerts?crl=strict");
    expect([strict.statusCode, strict.json().code]).toEqual([409, "crl_incomplete"]);
    expect(strict.json().errors[0].path).toBe(`intermediates.${ext.serial}`);

    const m = samples((await t.app.inject({ url: "/metrics" })).body);
    expect(m.get(`meshroot_crl_missing{trust_domain="mesh.example.com",cluster="north",serial="${ext.serial}"}`)).toBe(1);
    expect(m.get('meshroot_ca_crl_bytes{trust_domain="mesh.example.com"}')).toBe(Buffer.byteLength(caCrl(res.body)));

    await t.core.revocation.revoke(ext.serial, "superseded", TEST_CTX);
    const after = await get("/v1/clusters/east/cacerts?crl=strict");
    expect(after.statusCode, after.body).toBe(200);
    expect(after.headers["meshroot-crl-missing"]).toBeUndefined();
    const m2 = samples((await t.app.inject({ url: "/metrics" })).body);
    expect([...m2.keys()].filter((k) => k.startsWith("meshroot_crl_missing{"))).toEqual([]);
  });
});

describe("Secret size and issuance rate (item 5)", () => {
  it("refuses to render a Secret whose data exceeds Kubernetes' 1 MiB, saying why", () => {
    const files = { "ca-cert.pem": "c", "ca-key.pem": "k", "cert-chain.pem": "cc", "root-cert.pem": "r" };
    const meta = { cluster: "east", trustDomain: "d", generation: 1, serial: "01", notAfter: new Date(0), rotateAfter: new Date(0) };
    const opts = { format: "yaml" as const, type: "opaque" as const, namespace: "istio-system" };
    const fits = "x".repeat(MAX_SECRET_DATA_BYTES - 5); // with the other files' 5 bytes: exactly 1 MiB
    expect(renderCacertsSecret({ ...files, "ca-crl.pem": fits }, meta, opts)).toContain("ca-crl.pem");
    let err: unknown;
    try {
      renderCacertsSecret({ ...files, "ca-crl.pem": fits + "x" }, meta, opts);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe("secret_too_large");
    expect((err as DomainError).message).toMatch(/1048577 bytes.*crl=true/);
  });

  it("answers 429 issuance_rate_limited with Retry-After after 24 generations in a day; a replay still answers", async () => {
    for (let i = 0; i < 24; i++) expect((await issue("east", {}, { "idempotency-key": `k${i}` })).statusCode).toBe(201);
    const before = rowCounts(t.db);
    const res = await issue("east");
    expect([res.statusCode, res.json().code]).toEqual([429, "issuance_rate_limited"]);
    expect(res.headers["retry-after"]).toBe(String(86_400));
    expect(rowCounts(t.db)).toEqual(before);
    expect((await issue("east", {}, { "idempotency-key": "k3" })).statusCode).toBe(200);
  });
});

describe("Idempotency-Key of a revoked intermediate (item 13)", () => {
  it("answers 409 intermediate_revoked without a key, writing only the refusal's audit event", async () => {
    const first = await issue("east", {}, { "idempotency-key": "deploy-7" });
    expect(first.statusCode).toBe(201);
    await t.app.inject({ method: "POST", url: `/v1/certificates/${first.json().intermediate.serial}/revoke`, headers: t.auth(), payload: { reason: "keyCompromise" } });
    const before = { rows: rowCounts(t.db), events: events() };
    const replay = await issue("east", {}, { "idempotency-key": "deploy-7" });
    expect([replay.statusCode, replay.json().code]).toEqual([409, "intermediate_revoked"]);
    expect(replay.body).not.toContain("PRIVATE KEY");
    expect({ rows: rowCounts(t.db), events: events() }).toEqual({ rows: before.rows, events: before.events + 1 });
  });
});

describe("swapped sealed keys are refused through the signer and the cacerts route (mutation review)", () => {
  it("two intermediates' sealed keys swapped: cacerts answers a problem without a key and writes nothing; their CRLs cannot be signed", async () => {
    const east = (await issue("east")).json().intermediate.serial as string;
    const west = (await issue("west")).json().intermediate.serial as string;
    const key = (s: string) => (t.db.prepare("SELECT sealed_key FROM intermediates WHERE serial = ?").get(s) as { sealed_key: Buffer }).sealed_key;
    const [ke, kw] = [key(east), key(west)];
    t.db.prepare("UPDATE intermediates SET sealed_key = ? WHERE serial = ?").run(kw, east);
    t.db.prepare("UPDATE intermediates SET sealed_key = ? WHERE serial = ?").run(ke, west);
    for (const url of ["/v1/clusters/east/cacerts", "/v1/clusters/west/cacerts?crl=true"]) {
      const before = { rows: rowCounts(t.db), events: events() };
      const res = await get(url);
      // decryption_failed is a 500: the problem says only "internal_error" (details go to the log).
      expect([res.statusCode, res.json().code], res.body).toEqual([500, "internal_error"]);
      expect(res.headers["content-type"]).toContain("application/problem+json");
      expect(res.body).not.toContain("PRIVATE KEY");
      expect({ rows: rowCounts(t.db), events: events() }).toEqual(before);
    }
    // The CRL signer of each escrowed intermediate opens its key under its own serial: refused. A
    // fresh core (a restart, another replica): the running one keeps the signers of the keys it
    // generated itself, which are the certificates' own.
    const { core } = coreOver(sqliteStore(t.db), t.clock);
    expect(await core.revocation.caCrlBundle("mesh.example.com").then(() => "ok", (e: DomainError) => e.code)).toBe("decryption_failed");
    expect(await t.core.revocation.caCrlBundle("mesh.example.com").then(() => "ok", (e: DomainError) => e.code)).toBe("ok");
  });

  it("an intermediate's sealed key moved into the root's key_ref: the root cannot sign an issuance", async () => {
    const east = (await issue("east")).json().intermediate.serial as string;
    const root = t.db.prepare("SELECT serial FROM roots").get() as { serial: string };
    const sealed = (t.db.prepare("SELECT sealed_key FROM intermediates WHERE serial = ?").get(east) as { sealed_key: Buffer }).sealed_key;
    t.db.prepare("UPDATE roots SET key_ref = ? WHERE serial = ?").run(`sealed:root:${root.serial}:${sealed.toString("hex")}`, root.serial);
    // A fresh core: the running one keeps the root's signer it loaded before the swap.
    const { core } = coreOver(sqliteStore(t.db), t.clock);
    const before = { rows: rowCounts(t.db), events: events() };
    const err = await core.issuance.issue("west", {}, TEST_CTX).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect(["decryption_failed", "key_unavailable"]).toContain((err as DomainError).code);
    expect({ rows: rowCounts(t.db), events: events() }).toEqual(before);
  });
});

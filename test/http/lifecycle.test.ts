import * as x509 from "@peculiar/x509";
import { beforeEach, describe, expect, it } from "vitest";
import { DAY_MS } from "../../src/clock.js";
import { rowCounts, testApp, type TestApp, TEST_CTX } from "../helpers.js";

let t: TestApp;
beforeEach(async () => {
  t = await testApp();
  await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
  for (const name of ["prod-a", "dev-a"]) {
    await t.core.clusters.register({ name, trustDomain: "cluster.local", policy: { validityDays: 30, renewBeforeDays: 10 } }, TEST_CTX);
    await t.core.issuance.issue(name, {}, TEST_CTX);
  }
});

describe("revocation routes", () => {
  it("revokes with a reason and returns the revoked intermediate", async () => {
    const serial = (await t.core.clusters.get("prod-a")).active!.serial;
    const res = await t.app.inject({ method: "POST", url: `/v1/certificates/${serial}/revoke`, headers: t.auth(), payload: { reason: "affiliationChanged" } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ serial, status: "revoked", revocationReason: "affiliationChanged", revokedAt: t.clock.now().toISOString() });
    const again = await t.app.inject({ method: "POST", url: `/v1/certificates/${serial}/revoke`, headers: t.auth(), payload: { reason: "affiliationChanged" } });
    expect([again.statusCode, again.json().code]).toEqual([409, "already_revoked"]);
  });

  it.each([
    ["an unknown reason", "aa".repeat(16), { reason: "compromised" }, 400, "validation_failed"],
    ["certificateHold (not offered)", "aa".repeat(16), { reason: "certificateHold" }, 400, "validation_failed"],
    ["no reason", "aa".repeat(16), {}, 400, "validation_failed"],
    ["a serial that is not hex", "XYZ", { reason: "unspecified" }, 400, "validation_failed"],
    ["an unknown serial", "aa".repeat(16), { reason: "unspecified" }, 404, "certificate_not_found"],
  ])("refuses %s and writes nothing", async (_what, serial, payload, status, code) => {
    const before = rowCounts(t.db);
    const res = await t.app.inject({ method: "POST", url: `/v1/certificates/${serial}/revoke`, headers: t.auth(), payload });
    expect([res.statusCode, res.json().code]).toEqual([status, code]);
    expect(rowCounts(t.db)).toEqual(before);
  });

  it("serves the CRL as DER or PEM, publicly", async () => {
    const der = await t.app.inject({ url: "/v1/trust-domains/cluster.local/crl" });
    expect(der.headers["content-type"]).toBe("application/pkix-crl");
    const crl = new x509.X509Crl(new Uint8Array(der.rawPayload));
    expect(crl.issuer).toContain("cluster.local Root CA");
    const pem = await t.app.inject({ url: "/v1/trust-domains/cluster.local/crl?format=pem" });
    expect(pem.headers["content-type"]).toContain("application/x-pem-file");
    expect(pem.body).toMatch(/^-----BEGIN X509 CRL-----\n/);
    expect((await t.app.inject({ url: "/v1/trust-domains/nope.example/crl" })).statusCode).toBe(404);
    expect((await t.app.inject({ url: "/v1/trust-domains/cluster.local/crl?format=txt" })).statusCode).toBe(400);
  });

  it("cacerts?crl=true adds ca-crl.pem; with type=tls it is a 400", async () => {
    const res = await t.app.inject({ url: "/v1/clusters/prod-a/cacerts?crl=true&format=json", headers: t.auth() });
    expect(res.statusCode).toBe(200);
    const data = res.json().data;
    expect(Object.keys(data)).toEqual(["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem", "ca-crl.pem"]);
    expect(Buffer.from(data["ca-crl.pem"], "base64").toString().match(/BEGIN X509 CRL/g)).toHaveLength(3);
    const tls = await t.app.inject({ url: "/v1/clusters/prod-a/cacerts?crl=true&type=tls", headers: t.auth() });
    expect([tls.statusCode, tls.json().errors[0].path]).toEqual([400, "querystring.crl"]);
    const plain = await t.app.inject({ url: "/v1/clusters/prod-a/cacerts?format=json", headers: t.auth() });
    expect(plain.json().data["ca-crl.pem"]).toBeUndefined();
  });

  it("a CRL upload needs a CRL content type and a valid CRL", async () => {
    const serial = (await t.core.clusters.get("prod-a")).active!.serial;
    const url = `/v1/clusters/prod-a/intermediates/${serial}/crl`;
    const json = await t.app.inject({ method: "PUT", url, headers: t.auth(), payload: { crl: "x" } });
    expect([json.statusCode, json.json().code]).toEqual([400, "validation_failed"]);
    const escrowed = await t.app.inject({ method: "PUT", url, headers: { ...t.auth(), "content-type": "application/pkix-crl" }, payload: Buffer.from([0x30, 0x00]) });
    expect([escrowed.statusCode, escrowed.json().code]).toEqual([409, "escrowed_custody"]);
    const text = await t.app.inject({ method: "PUT", url, headers: { ...t.auth(), "content-type": "text/plain" }, payload: "x" });
    expect(text.statusCode).toBe(415);
  });
});

describe("rotation routes", () => {
  it("lists due clusters with dates and ?within=, and rejects a bad duration", async () => {
    expect((await t.app.inject({ url: "/v1/rotations/due", headers: t.auth() })).json().items).toEqual([]);
    const soon = (await t.app.inject({ url: "/v1/rotations/due?within=21d", headers: t.auth() })).json().items;
    expect(soon.map((d: { cluster: string }) => d.cluster).sort()).toEqual(["dev-a", "prod-a"]);
    expect(soon[0]).toMatchObject({ status: "active", generation: 1, custody: "escrowed", rotateAfter: expect.any(String), notAfter: expect.any(String) });
    for (const bad of ["7", "7w", "-1d", "1.5d"]) {
      const res = await t.app.inject({ url: `/v1/rotations/due?within=${bad}`, headers: t.auth() });
      expect(res.statusCode).toBe(400);
    }
  });

  it("runs a rotation limited to the caller's scope, and a dry run writes nothing", async () => {
    t.clock.advance(21 * DAY_MS);
    const { secret } = await t.core.tokens.create({ name: "prod", role: "provisioner", clusterPatterns: ["prod-*"], trustDomains: ["cluster.local"] }, TEST_CTX);
    const before = rowCounts(t.db);
    const dry = await t.app.inject({ method: "POST", url: "/v1/rotations/run", headers: t.auth(secret), payload: { dryRun: true, trustDomain: "cluster.local" } });
    expect(dry.json()).toMatchObject({ dryRun: true, rotated: [], skipped: [], wouldRotate: [{ cluster: "prod-a", status: "due" }], failed: [] });
    expect(rowCounts(t.db)).toEqual(before);
    const run = await t.app.inject({ method: "POST", url: "/v1/rotations/run", headers: t.auth(secret), payload: { trustDomain: "cluster.local" } });
    expect(run.statusCode).toBe(200);
    expect(run.json().rotated).toMatchObject([{ cluster: "prod-a", generation: 2 }]);
    expect((await t.core.clusters.get("dev-a")).status).toBe("due");
    const bad = await t.app.inject({ method: "POST", url: "/v1/rotations/run", headers: t.auth(), payload: { dryrun: true } });
    expect(bad.statusCode).toBe(400);
  });
});

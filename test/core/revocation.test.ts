import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { crlNumber } from "../../src/x509/crl.js";
import { signCrl } from "../x509/reference.js";
import { DAY_MS } from "../../src/clock.js";
import { DomainError } from "../../src/errors.js";
import { crypto, makeCsr, testCore, TEST_CTX } from "../helpers.js";

async function setup() {
  const t = testCore();
  const td = await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
  for (const c of ["east", "west"]) await t.core.clusters.register({ name: c, trustDomain: "cluster.local" }, TEST_CTX);
  const root = new x509.X509Certificate(td.roots[0]!.certPem);
  const rootCrl = async () => new x509.X509Crl(new Uint8Array(await t.core.revocation.rootCrlDer("cluster.local")));
  return { ...t, root, rootCrl };
}

const code = (p: Promise<unknown>) => p.then(() => "ok", (e: unknown) => (e instanceof DomainError ? e.code : String(e)));

function crlsOf(pem: string): x509.X509Crl[] {
  return [...pem.matchAll(/-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----/g)].map((m) => new x509.X509Crl(m[0]));
}

describe("revocation", () => {
  it("revokes, rebuilds the root CRL with the entry and a larger CRL number, and refuses a second revoke", async () => {
    const { core, root, rootCrl, clock } = await setup();
    const empty = await rootCrl();
    expect(empty.entries).toHaveLength(0);
    expect(crlNumber(empty)).toBe(1);
    expect(await empty.verify({ publicKey: root.publicKey })).toBe(true);
    expect(empty.issuer).toBe(root.subject);
    expect(empty.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe(root.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId);
    // thisUpdate is backdated a minute (like notBefore); nextUpdate is 7 days after signing.
    expect(empty.nextUpdate!.getTime() - empty.thisUpdate.getTime()).toBe(7 * DAY_MS + 60_000);

    const { record } = await core.issuance.issue("east", {}, TEST_CTX);
    clock.advance(60_000);
    const revoked = await core.revocation.revoke(record.serial, "keyCompromise", TEST_CTX);
    expect(revoked).toMatchObject({ status: "revoked", revocationReason: "keyCompromise", revokedAt: clock.now() });
    expect((await core.clusters.get("east")).status).toBe("revoked");

    const crl = await rootCrl();
    expect(crlNumber(crl)).toBe(2);
    expect(crl.entries).toHaveLength(1);
    const entry = crl.findRevoked(record.serial)!;
    expect(entry.reason).toBe(x509.X509CrlReason.keyCompromise);
    expect(entry.revocationDate.getTime()).toBe(Math.floor(clock.now().getTime() / 1000) * 1000);
    expect(await crl.verify({ publicKey: root.publicKey })).toBe(true);

    expect(await code(core.revocation.revoke(record.serial, "unspecified", TEST_CTX))).toBe("already_revoked");
    expect((await rootCrl()).entries).toHaveLength(1);
    expect(await code(core.revocation.revoke("ab".repeat(16), "unspecified", TEST_CTX))).toBe("certificate_not_found");
  });

  it("re-signs a CRL once half its validity has passed, with a larger number", async () => {
    const { rootCrl, clock } = await setup();
    const first = await rootCrl();
    clock.advance(3.5 * DAY_MS - 1000);
    expect(crlNumber(await rootCrl())).toBe(crlNumber(first));
    clock.advance(1000);
    const second = await rootCrl();
    expect(crlNumber(second)).toBe(crlNumber(first)! + 1);
    expect(second.nextUpdate!.getTime()).toBeGreaterThan(first.nextUpdate!.getTime());
  });

  it("refreshAll re-signs only what is stale", async () => {
    const { core, clock } = await setup();
    await core.issuance.issue("east", {}, TEST_CTX);
    expect(await core.revocation.refreshAll()).toBe(2);
    expect(await core.revocation.refreshAll()).toBe(0);
    clock.advance(4 * DAY_MS);
    expect(await core.revocation.refreshAll()).toBe(2);
  });

  it("refreshAll works through more intermediates than one page, skipping revoked and external ones", async () => {
    const { core, clock } = await setup();
    for (let c = 0; c < 30; c++) await core.clusters.register({ name: `f${c}`, trustDomain: "cluster.local" }, TEST_CTX);
    const escrowed: string[] = [];
    for (let g = 0; g < 15; g++) for (let c = 0; c < 30; c++) escrowed.push((await core.issuance.issue(`f${c}`, {}, TEST_CTX)).record.serial);
    await core.revocation.revoke(escrowed[0]!, "keyCompromise", TEST_CTX);
    await core.issuance.issue("east", { csrPem: (await makeCsr()).pem }, TEST_CTX);
    // 449 live escrowed intermediates (more than two pages of 200); the revocation just re-signed the root's.
    expect(await core.revocation.refreshAll()).toBe(449);
    expect(await core.revocation.refreshAll()).toBe(0);
    clock.advance(4 * DAY_MS);
    expect(await core.revocation.refreshAll()).toBe(450);
  });

  it("decommission revokes the active intermediate (cessationOfOperation), keeps history, refuses new issuance", async () => {
    const { core, rootCrl } = await setup();
    await core.issuance.issue("east", {}, TEST_CTX);
    const { record } = await core.issuance.issue("east", {}, TEST_CTX);
    await core.revocation.decommission("east", TEST_CTX);
    const view = await core.clusters.get("east");
    expect(view.status).toBe("decommissioned");
    expect(view.cluster.decommissionedAt).not.toBeNull();
    const history = await core.issuance.list("east", { limit: 10 });
    expect(history.map((i) => [i.generation, i.status, i.revocationReason])).toEqual([
      [2, "revoked", "cessationOfOperation"],
      [1, "superseded", null],
    ]);
    expect((await rootCrl()).findRevoked(record.serial)!.reason).toBe(x509.X509CrlReason.cessationOfOperation);
    expect(await code(core.issuance.issue("east", {}, TEST_CTX))).toBe("cluster_decommissioned");
    expect(await code(core.revocation.decommission("east", TEST_CTX))).toBe("cluster_decommissioned");
    expect(await code(core.revocation.decommission("nope", TEST_CTX))).toBe("cluster_not_found");
    // A cluster that never had an intermediate decommissions without a revocation.
    await core.revocation.decommission("west", TEST_CTX);
    expect((await core.clusters.get("west")).status).toBe("decommissioned");
  });
});

describe("ca-crl.pem", () => {
  it("holds the root's CRL and one CRL per unexpired, unrevoked intermediate, each verifying against its issuer", async () => {
    const { core, root, clock } = await setup();
    await core.clusters.register({ name: "short", trustDomain: "cluster.local", policy: { validityDays: 2 } }, TEST_CTX);
    const e1 = (await core.issuance.issue("east", {}, TEST_CTX)).record;
    const e2 = (await core.issuance.issue("east", {}, TEST_CTX)).record;
    const w1 = (await core.issuance.issue("west", {}, TEST_CTX)).record;
    const w2 = (await core.issuance.issue("west", {}, TEST_CTX)).record;
    await core.issuance.issue("short", {}, TEST_CTX);
    await core.revocation.revoke(w1.serial, "superseded", TEST_CTX);
    clock.advance(3 * DAY_MS); // "short" has expired
    const crls = crlsOf((await core.revocation.caCrlBundle("cluster.local")).pem);
    expect(crls[0]!.issuer).toBe(root.subject);
    expect(await crls[0]!.verify({ publicKey: root.publicKey })).toBe(true);
    const issuers = new Map([e1, e2, w2].map((r) => [new x509.X509Certificate(r.certPem).subject, r]));
    expect(crls.slice(1).map((c) => c.issuer).sort()).toEqual([...issuers.keys()].sort());
    for (const crl of crls.slice(1)) {
      const issuer = new x509.X509Certificate(issuers.get(crl.issuer)!.certPem);
      expect(await crl.verify({ publicKey: issuer.publicKey })).toBe(true);
      expect(crl.entries).toHaveLength(0);
      expect(crl.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe(issuer.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId);
    }
  });

  it("names the external intermediates that lack a CRL (strict: refuses), and includes an uploaded one", async () => {
    const { core, clock } = await setup();
    await core.issuance.issue("east", {}, TEST_CTX);
    const csr = await makeCsr();
    const ext = (await core.issuance.issue("west", { csrPem: csr.pem }, TEST_CTX)).record;
    const lenient = await core.revocation.caCrlBundle("cluster.local");
    expect(lenient.missing).toEqual([{ serial: ext.serial, cluster: "west", generation: 1 }]);
    expect(crlsOf(lenient.pem)).toHaveLength(2); // the root's and east's
    const err = await core.revocation.caCrlBundle("cluster.local", { strict: true }).catch((e: DomainError) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe("crl_incomplete");
    expect((err as DomainError).errors).toEqual([{ path: `intermediates.${ext.serial}`, message: expect.stringContaining("west") }]);

    const cert = new x509.X509Certificate(ext.certPem);
    const signer = { cert, keyAlgorithm: "ecdsa-p256" as const, keyId: cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId, privateKey: csr.keys.privateKey };
    const mk = (number: number, days = 7, at = clock.now()) =>
      signCrl({ signer, number, thisUpdate: at, nextUpdate: new Date(at.getTime() + days * DAY_MS), entries: [{ serial: "0badc0de", revokedAt: at, reason: "keyCompromise" }] });
    const crl5 = await mk(5);
    const stored = await core.revocation.uploadCrl("west", ext.serial, new Uint8Array(crl5.rawData), TEST_CTX);
    expect(stored).toMatchObject({ crlNumber: 5, entries: 1, uploaded: true });
    const bundle = crlsOf((await core.revocation.caCrlBundle("cluster.local", { strict: true })).pem);
    expect(bundle.map((c) => c.issuer)).toContain(cert.subject);
    // PEM works too; an older number is refused as stale.
    expect(await code(core.revocation.uploadCrl("west", ext.serial, Buffer.from(crl5.toString("pem")), TEST_CTX))).toBe("crl_stale");
    expect(await code(core.revocation.uploadCrl("west", ext.serial, Buffer.from((await mk(6)).toString("pem")), TEST_CTX))).toBe("ok");
    // Expired uploads stop counting.
    clock.advance(8 * DAY_MS);
    expect(await code(core.revocation.caCrlBundle("cluster.local", { strict: true }))).toBe("crl_incomplete");
    expect((await core.revocation.caCrlBundle("cluster.local")).missing.map((m) => m.serial)).toEqual([ext.serial]);
  });

  it("refuses uploads that are not the intermediate's own current CRL", async () => {
    const { core, clock } = await setup();
    const escrowed = (await core.issuance.issue("east", {}, TEST_CTX)).record;
    const csr = await makeCsr();
    const ext = (await core.issuance.issue("west", { csrPem: csr.pem }, TEST_CTX)).record;
    const cert = new x509.X509Certificate(ext.certPem);
    const other = await makeCsr();
    const now = clock.now();
    const sign = (privateKey: CryptoKey, signerCert = cert, nextUpdate = new Date(now.getTime() + DAY_MS)) =>
      signCrl({ signer: { cert: signerCert, keyAlgorithm: "ecdsa-p256", keyId: "", privateKey }, number: 1, thisUpdate: now, nextUpdate, entries: [] }).then(
        (c) => new Uint8Array(c.rawData),
      );
    expect(await code(core.revocation.uploadCrl("west", ext.serial, await sign(other.keys.privateKey), TEST_CTX))).toBe("invalid_crl");
    const eastCert = new x509.X509Certificate(escrowed.certPem);
    expect(await code(core.revocation.uploadCrl("west", ext.serial, await sign(csr.keys.privateKey, eastCert), TEST_CTX))).toBe("invalid_crl");
    expect(await code(core.revocation.uploadCrl("west", ext.serial, await sign(csr.keys.privateKey, cert, new Date(now.getTime() - 1000)), TEST_CTX))).toBe("invalid_crl");
    expect(await code(core.revocation.uploadCrl("west", ext.serial, Buffer.from("garbage"), TEST_CTX))).toBe("invalid_crl");
    expect(await code(core.revocation.uploadCrl("west", ext.serial, Buffer.from("-----BEGIN X509 CRL-----\n!!\n-----END X509 CRL-----"), TEST_CTX))).toBe("invalid_pem");
    expect(await code(core.revocation.uploadCrl("east", escrowed.serial, await sign(csr.keys.privateKey), TEST_CTX))).toBe("escrowed_custody");
    expect(await code(core.revocation.uploadCrl("east", ext.serial, await sign(csr.keys.privateKey), TEST_CTX))).toBe("certificate_not_found");
  });
});

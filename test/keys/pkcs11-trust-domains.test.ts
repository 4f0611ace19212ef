import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { systemClock } from "../../src/clock.js";
import { createCore } from "../../src/core/core.js";
import { combineObservers, type RootKeys } from "../../src/core/ports.js";
import { buildApp, type App } from "../../src/http/app.js";
import { createMetrics } from "../../src/http/metrics.js";
import { publicCache } from "../../src/http/public-cache.js";
import { envelopeVault } from "../../src/keys/envelope-vault.js";
import { rootKeysByScheme } from "../../src/keys/pkcs11-dispatch.js";
import { pkcs11RootKeys } from "../../src/keys/pkcs11-root-keys.js";
import { openPkcs11Token, type Pkcs11Token } from "../../src/keys/pkcs11-token.js";
import { sealedRootKeys } from "../../src/keys/sealed-root-keys.js";
import { openDatabase, type Db } from "../../src/store/sqlite/database.js";
import { migrate } from "../../src/store/sqlite/migrate.js";
import { sqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { certPem, signRoot } from "../../src/x509/certificates.js";
import { pkcs8Pem } from "../../src/x509/private-keys.js";
import { generateKeyPairDer } from "../../src/x509/private-keys.js";
import { MASTER_KEY, openssl, rowCounts, tempDir, TEST_CTX } from "../helpers.js";
import { dropToken, skipSofthsm, softToken, type SoftToken } from "./softhsm.js";

/** The HTTP API over a fresh database with these root keys (the clock is the system's: openssl checks the dates). */
async function appWith(rootKeys: RootKeys): Promise<{ app: App; db: Db; call: (method: string, url: string, payload?: unknown) => Promise<{ status: number; body: any }> }> {
  const db = openDatabase(":memory:");
  migrate(db);
  const store = sqliteStore(db);
  const metrics = createMetrics();
  const cache = publicCache(systemClock);
  const core = createCore({ store, rootKeys, vault: envelopeVault(MASTER_KEY), crypto, clock: systemClock, observer: combineObservers(metrics.observer, cache.observer) });
  const app = await buildApp({ core, clock: systemClock, metrics, publicCache: cache, authFailures: { limit: 1_000_000, windowMs: 60_000 }, readiness: () => ({ ready: true, checks: { database: true } }) });
  const { secret } = await core.tokens.create({ name: "admin", role: "admin" }, TEST_CTX);
  const call = async (method: string, url: string, payload?: unknown) => {
    const res = await app.inject({ method: method as "GET", url, headers: { authorization: `Bearer ${secret}` }, ...(payload === undefined ? {} : { payload: payload as object }) });
    let body: any = res.body;
    try {
      body = res.json();
    } catch {
      /* not JSON */
    }
    return { status: res.statusCode, body };
  };
  return { app, db, call };
}

const sealed = sealedRootKeys(envelopeVault(MASTER_KEY));

describe("without an HSM configured", () => {
  it("refuses keyStorage pkcs11 and an import by keyUri with pkcs11_not_configured (409), writing nothing", async () => {
    const { app, db, call } = await appWith(rootKeysByScheme(sealed, undefined));
    const before = rowCounts(db);
    const gen = await call("POST", "/v1/trust-domains", { name: "mesh.example.com", root: { keyStorage: "pkcs11" } });
    expect([gen.status, gen.body.code]).toEqual([409, "pkcs11_not_configured"]);
    expect(gen.body.detail).toContain("MESHROOT_PKCS11_");
    const key = await generateKeyPairDer("ecdsa-p256");
    const cert = await signRoot({ trustDomain: "x", organization: "o", notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000), signer: (await sealed.importPkcs8(key.pkcs8, "ecdsa-p256")).signer });
    const imp = await call("POST", "/v1/trust-domains", { name: "mesh.example.com", import: { certificatePem: certPem(cert), keyUri: "pkcs11:id=%01;type=private" } });
    expect([imp.status, imp.body.code]).toEqual([409, "pkcs11_not_configured"]);
    expect(rowCounts(db)).toEqual(before);
    const software = await call("POST", "/v1/trust-domains", { name: "mesh.example.com", root: { keyStorage: "software" } });
    expect([software.status, software.body.roots[0].keyStorage]).toEqual([201, "software"]);
    await app.close();
  });

  it("validates the import's key fields: one of privateKeyPem and keyUri, a pkcs11: URI without a query", async () => {
    const { app, call } = await appWith(rootKeysByScheme(sealed, undefined));
    const key = await generateKeyPairDer("ecdsa-p256");
    const cert = certPem(await signRoot({ trustDomain: "x", organization: "o", notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000), signer: (await sealed.importPkcs8(key.pkcs8, "ecdsa-p256")).signer }));
    for (const bad of [
      { certificatePem: cert },
      { certificatePem: cert, privateKeyPem: pkcs8Pem(key.pkcs8), keyUri: "pkcs11:id=%01" },
      { certificatePem: cert, keyUri: "pkcs11:id=%01?pin-value=1234" },
      { certificatePem: cert, keyUri: "file:///etc/key.pem" },
    ]) {
      const res = await call("POST", "/v1/trust-domains", { name: "mesh.example.com", import: bad });
      expect([res.status, res.body.code], JSON.stringify(bad)).toEqual([400, "validation_failed"]);
    }
    await app.close();
  });
});

describe.skipIf(skipSofthsm)("with a SoftHSM2 token", () => {
  let soft: SoftToken;
  let token: Pkcs11Token;
  let hsm: ReturnType<typeof pkcs11RootKeys>;
  let t: Awaited<ReturnType<typeof appWith>>;
  const work = tempDir("meshroot-pkcs11-td-");

  beforeAll(async () => {
    soft = softToken("meshroot-td");
    token = openPkcs11Token({ module: soft.module, token: soft.label, pin: soft.pin });
    hsm = pkcs11RootKeys(token);
    t = await appWith(rootKeysByScheme(sealed, hsm));
  });
  afterAll(async () => {
    await t?.app.close();
    token?.close();
    dropToken(soft);
  });

  const keyRefOf = (td: string) => (t.db.prepare("SELECT key_ref AS k FROM roots WHERE trust_domain = ? ORDER BY generation").all(td) as { k: string }[]).map((r) => r.k);

  it("creates a trust domain whose root key is in the token: the row holds the URI, issuance and the root CRL verify with openssl", async () => {
    const td = await t.call("POST", "/v1/trust-domains", { name: "hsm.example.com", root: { keyStorage: "pkcs11", keyAlgorithm: "ecdsa-p384" } });
    expect(td.status, JSON.stringify(td.body)).toBe(201);
    const root = td.body.roots[0];
    expect(root.keyStorage).toBe("pkcs11");
    expect(JSON.stringify(td.body)).not.toContain("pkcs11:");
    expect(keyRefOf("hsm.example.com")).toEqual([`pkcs11:token=meshroot-td;id=${root.serial.match(/../g).map((b: string) => `%${b}`).join("")};object=meshroot-root-${root.serial};type=private`]);
    expect((await t.call("POST", "/v1/clusters", { name: "east", trustDomain: "hsm.example.com" })).status).toBe(201);
    const issued = await t.call("POST", "/v1/clusters/east/intermediates", {});
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    for (const [name, pem] of Object.entries(issued.body.cacerts as Record<string, string>)) writeFileSync(join(work, name), pem);
    expect(openssl(["verify", "-x509_strict", "-CAfile", join(work, "root-cert.pem"), "-untrusted", join(work, "cert-chain.pem"), join(work, "ca-cert.pem")])).toContain(": OK");
    const crl = await t.app.inject({ url: "/v1/trust-domains/hsm.example.com/crl?format=pem" });
    expect(crl.statusCode).toBe(200);
    writeFileSync(join(work, "root-crl.pem"), crl.body);
    const out = openssl(["crl", "-in", join(work, "root-crl.pem"), "-CAfile", join(work, "root-cert.pem"), "-noout"]);
    expect(out).toBe("");
  });

  it("keeps software and HSM roots side by side, and rotates a software root to an HSM one", async () => {
    expect((await t.call("POST", "/v1/trust-domains", { name: "soft.example.com" })).status).toBe(201);
    expect(keyRefOf("soft.example.com")[0]).toMatch(/^sealed:/);
    const rotation = await t.call("POST", "/v1/trust-domains/soft.example.com/root-rotation", { root: { keyStorage: "pkcs11" } });
    expect(rotation.status, JSON.stringify(rotation.body)).toBe(201);
    const refs = keyRefOf("soft.example.com");
    expect(refs[0]).toMatch(/^sealed:/);
    expect(refs[1]).toMatch(/^pkcs11:token=meshroot-td;id=.*;type=private$/);
  });

  it("imports a root whose key is already in the token, after proving the certificate matches it", async () => {
    const pending = await hsm.generate("ecdsa-p256");
    const uri = await pending.bind("c0ffee");
    const now = Date.now();
    const cert = certPem(await signRoot({ trustDomain: "imported.example.com", organization: "Example", notBefore: new Date(now - 60_000), notAfter: new Date(now + 3650 * 86_400_000), signer: pending.signer }));
    const other = await (await hsm.generate("ecdsa-p256")).bind("0dd");
    const mismatch = await t.call("POST", "/v1/trust-domains", { name: "imported.example.com", import: { certificatePem: cert, keyUri: other } });
    expect([mismatch.status, mismatch.body.code]).toEqual([422, "key_mismatch"]);
    const missing = await t.call("POST", "/v1/trust-domains", { name: "imported.example.com", import: { certificatePem: cert, keyUri: "pkcs11:token=meshroot-td;id=%ab%cd;type=private" } });
    expect([missing.status, missing.body.code]).toEqual([422, "hsm_key_not_found"]);
    const ok = await t.call("POST", "/v1/trust-domains", { name: "imported.example.com", import: { certificatePem: cert, keyUri: `pkcs11:object=meshroot-root-c0ffee` } });
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body.roots[0].imported).toBe(true);
    expect(keyRefOf("imported.example.com")).toEqual([uri]);
    expect((await t.call("POST", "/v1/clusters", { name: "west", trustDomain: "imported.example.com" })).status).toBe(201);
    expect((await t.call("POST", "/v1/clusters/west/intermediates", {})).status).toBe(201);
  });

  it("answers 503 hsm_unavailable for issuance while the token is gone, writes nothing, and issues again when it is back", async () => {
    const before = rowCounts(t.db);
    soft.remove();
    try {
      const res = await t.call("POST", "/v1/clusters/east/intermediates", {});
      expect([res.status, res.body.code]).toEqual([503, "hsm_unavailable"]);
      expect(res.body.detail).toContain("meshroot-td");
      expect(rowCounts(t.db)).toEqual(before);
    } finally {
      soft.restore();
    }
    expect((await t.call("POST", "/v1/clusters/east/intermediates", {})).status).toBe(201);
  });
});

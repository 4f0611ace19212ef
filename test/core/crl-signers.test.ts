import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { sqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { coreOver, testCore, TEST_CTX } from "../helpers.js";

/**
 * An intermediate's CRL is signed with the key generated at issuance (kept in memory) or, in
 * another process, with the sealed key opened from the database: both verify, for every key
 * algorithm.
 */
describe("intermediate CRL signatures", () => {
  it.each(["ecdsa-p256", "ecdsa-p384", "rsa-2048"] as const)("verify for %s, signed by the issuing process and by a fresh one", async (keyAlgorithm) => {
    const t = testCore(new Date().toISOString());
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    await t.core.clusters.register({ name: "east", trustDomain: "cluster.local", policy: { keyAlgorithm } }, TEST_CTX);
    const { record } = await t.core.issuance.issue("east", {}, TEST_CTX);
    const cert = new x509.X509Certificate(record.certPem);
    const crlOf = (pem: string) =>
      (pem.match(/-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----/g) ?? []).map((p) => new x509.X509Crl(p)).find((c) => c.issuer === cert.subject)!;
    const here = crlOf((await t.core.revocation.caCrlBundle("cluster.local")).pem);
    expect(await here.verify({ publicKey: cert.publicKey })).toBe(true);
    // A fresh core signs the next one (the first is re-signed at half its validity) from the sealed key.
    t.clock.advance(4 * 86_400_000);
    const { core } = coreOver(sqliteStore(t.db), t.clock);
    const fresh = crlOf((await core.revocation.caCrlBundle("cluster.local")).pem);
    expect(fresh.thisUpdate.getTime()).toBeGreaterThan(here.thisUpdate.getTime());
    expect(await fresh.verify({ publicKey: cert.publicKey })).toBe(true);
  });
});

import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { KEY_ALGORITHMS, type KeyAlgorithm } from "../../src/x509/key-algorithms.js";
import { DAY_MS } from "../../src/clock.js";
import { cert, makeCsr, openssl, T0, testCore, TEST_CTX } from "../helpers.js";

const CA_USAGES = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature;
const EKU_OID = "2.5.29.37";
const NAME_CONSTRAINTS_OID = "2.5.29.30";

const HASH: Record<KeyAlgorithm, string> = {
  "ecdsa-p256": "SHA-256",
  "ecdsa-p384": "SHA-384",
  "rsa-2048": "SHA-256",
  "rsa-3072": "SHA-256",
  "rsa-4096": "SHA-256",
};
const SIG_NAME = (alg: KeyAlgorithm) => (alg.startsWith("ecdsa") ? "ECDSA" : "RSASSA-PKCS1-v1_5");

function expectSerial(serial: string) {
  expect(serial).toMatch(/^[0-9a-f]{32}$/);
  const first = parseInt(serial.slice(0, 2), 16);
  expect(first).toBeGreaterThanOrEqual(0x40);
  expect(first).toBeLessThan(0x80);
}

async function issueUnder(rootAlg: KeyAlgorithm, intermediateAlg: KeyAlgorithm, rootValidityDays?: number) {
  const { core } = testCore();
  const td = await core.trustDomains.create({
    name: "mesh.example.com",
    root: { keyAlgorithm: rootAlg, organization: "Acme Corp", validityDays: rootValidityDays },
  }, TEST_CTX);
  await core.clusters.register({ name: "east-1", trustDomain: "mesh.example.com", policy: { keyAlgorithm: intermediateAlg } }, TEST_CTX);
  const issued = await core.issuance.issue("east-1", {}, TEST_CTX);
  return { root: cert(td.roots[0]!.certPem), rootRecord: td.roots[0]!, inter: cert(issued.record.certPem), issued };
}

describe("root profile", () => {
  it.each(KEY_ALGORITHMS)("%s root: self-signed CA with exactly the profile's extensions", async (alg) => {
    const { root, rootRecord } = await issueUnder(alg, "ecdsa-p256");
    expect(root.subject).toBe("O=Acme Corp, CN=mesh.example.com Root CA");
    expect(root.issuer).toBe(root.subject);
    expect(await root.verify({ signatureOnly: true })).toBe(true);
    expectSerial(root.serialNumber);
    expect(root.signatureAlgorithm.name).toBe(SIG_NAME(alg));
    expect((root.signatureAlgorithm as { hash: { name: string } }).hash.name).toBe(HASH[alg]);

    const bc = root.getExtension(x509.BasicConstraintsExtension)!;
    expect(bc.critical).toBe(true);
    expect(bc.ca).toBe(true);
    expect(bc.pathLength).toBeUndefined();
    const ku = root.getExtension(x509.KeyUsagesExtension)!;
    expect(ku.critical).toBe(true);
    expect(ku.usages).toBe(CA_USAGES);
    const ski = root.getExtension(x509.SubjectKeyIdentifierExtension)!;
    expect(ski.keyId).toBe(rootRecord.keyId);
    expect(root.getExtension(EKU_OID)).toBeNull();
    expect(root.extensions.map((e) => e.type).sort()).toEqual(["2.5.29.14", "2.5.29.15", "2.5.29.19"]);

    expect(root.notBefore.toISOString()).toBe("2026-01-15T11:59:00.000Z");
    expect(root.notAfter.getTime() - new Date(T0).getTime()).toBe(3650 * DAY_MS);
    expect(rootRecord.serial).toBe(root.serialNumber);
  });
});

describe("intermediate profile", () => {
  it.each(KEY_ALGORITHMS)("%s intermediate under a P-256 root: pathlen 0 CA, AKI = root SKI, no EKU", async (alg) => {
    const { root, inter, issued } = await issueUnder("ecdsa-p256", alg);
    expect(inter.subject).toBe("O=Acme Corp, CN=Intermediate CA, L=east-1, OU=generation-1");
    expect(inter.issuer).toBe(root.subject);
    expect(await inter.verify({ publicKey: root.publicKey, signatureOnly: true })).toBe(true);
    expectSerial(inter.serialNumber);
    expect(issued.record.serial).toBe(inter.serialNumber);
    expect(issued.record.keyAlgorithm).toBe(alg);
    expect(inter.signatureAlgorithm.name).toBe("ECDSA");

    const bc = inter.getExtension(x509.BasicConstraintsExtension)!;
    expect([bc.critical, bc.ca, bc.pathLength]).toEqual([true, true, 0]);
    const ku = inter.getExtension(x509.KeyUsagesExtension)!;
    expect([ku.critical, ku.usages]).toEqual([true, CA_USAGES]);
    const ski = inter.getExtension(x509.SubjectKeyIdentifierExtension)!;
    const expectedSki = Buffer.from(await inter.publicKey.getKeyIdentifier()).toString("hex");
    expect(ski.keyId).toBe(expectedSki);
    const aki = inter.getExtension(x509.AuthorityKeyIdentifierExtension)!;
    expect(aki.keyId).toBe(root.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId);
    expect(inter.getExtension(EKU_OID)).toBeNull();
    expect(inter.getExtension(NAME_CONSTRAINTS_OID)).toBeNull();
    expect(inter.extensions.map((e) => e.type).sort()).toEqual(["2.5.29.14", "2.5.29.15", "2.5.29.19", "2.5.29.35"]);

    expect(inter.notBefore.toISOString()).toBe("2026-01-15T11:59:00.000Z");
    expect(inter.notAfter.toISOString()).toBe(new Date(new Date(T0).getTime() + 365 * DAY_MS).toISOString());
    expect(issued.record.notAfter.getTime()).toBe(inter.notAfter.getTime());
    expect(issued.record.notBefore.getTime()).toBe(inter.notBefore.getTime());
    // Rotation is due one third of the validity before expiry by default.
    expect(issued.record.rotateAfter.getTime()).toBe(inter.notAfter.getTime() - Math.round((365 * DAY_MS) / 3));
  });

  it.each(["ecdsa-p384", "rsa-3072"] as const)("is signed with the root's algorithm (%s root)", async (alg) => {
    const { inter } = await issueUnder(alg, "ecdsa-p256");
    expect(inter.signatureAlgorithm.name).toBe(SIG_NAME(alg));
    expect((inter.signatureAlgorithm as { hash: { name: string } }).hash.name).toBe(HASH[alg]);
  });

  it("never outlives its root: not_after is clamped to the root's not_after", async () => {
    const { root, inter, issued } = await issueUnder("ecdsa-p256", "ecdsa-p256", 100);
    expect(inter.notAfter.getTime()).toBe(root.notAfter.getTime());
    expect(issued.record.notAfter.getTime()).toBe(root.notAfter.getTime());
    // The lifetime shrank to about 100 of 365 days: renew-before shrinks in proportion.
    const life = inter.notAfter.getTime() - new Date(T0).getTime();
    expect(inter.notAfter.getTime() - issued.record.rotateAfter.getTime()).toBe(Math.round((365 * DAY_MS) / 3 * (life / (365 * DAY_MS))));
  });

  it("takes only the public key from a CSR: subject and extensions come from the profile", async () => {
    const { core } = testCore();
    await core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    await core.clusters.register({ name: "west", trustDomain: "cluster.local" }, TEST_CTX);
    const csr = await makeCsr("ecdsa-p256");
    const issued = await core.issuance.issue("west", { csrPem: csr.pem }, TEST_CTX);
    const inter = cert(issued.record.certPem);
    expect(issued.record.custody).toBe("external");
    expect(issued.record.sealedKey).toBeNull();
    expect(issued.files!["ca-key.pem"]).toBeUndefined();
    expect(inter.subject).toBe("O=meshroot, CN=Intermediate CA, L=west, OU=generation-1");
    expect(inter.getExtension(EKU_OID)).toBeNull();
    expect(inter.getExtension(x509.BasicConstraintsExtension)!.pathLength).toBe(0);
    const spki = Buffer.from(await crypto.subtle.exportKey("spki", csr.keys.publicKey));
    expect(Buffer.from(inter.publicKey.rawData).equals(spki)).toBe(true);
  });

  it("reads the same way in openssl (a second implementation)", async () => {
    const { inter, root } = await issueUnder("rsa-2048", "ecdsa-p384");
    const text = openssl(["x509", "-noout", "-text"], inter.toString("pem"));
    expect(text).toContain("Signature Algorithm: sha256WithRSAEncryption");
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(text).not.toContain("Extended Key Usage");
    expect(text).toContain("NIST CURVE: P-384");
    const rootText = openssl(["x509", "-noout", "-text"], root.toString("pem"));
    expect(rootText).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE\n/);
  });
});

import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { encodeCaCertificate } from "../../src/x509/ca-encoder.js";
import type { KeyAlgorithm } from "../../src/x509/key-algorithms.js";
import { intermediateProfile, rootProfile, subjectText } from "../../src/x509/profiles.js";
import { generateKeys, openssl, testCore, TEST_CTX } from "../helpers.js";
import { cryptoKeySigner, issuerOf, jsonName, referenceCaCertificate, rootIssuer, type TestIssuer } from "./reference.js";

async function rootSigner(alg: KeyAlgorithm, organization = "Acme Corp"): Promise<TestIssuer> {
  const { core } = testCore();
  const td = await core.trustDomains.create({ name: "mesh.example.com", root: { keyAlgorithm: alg, organization } }, TEST_CTX);
  return rootIssuer(td.roots[0]!);
}

async function both(root: TestIssuer, keyAlg: KeyAlgorithm, extra: { crlUrl?: string; caIssuersUrl?: string } = {}, organization = "Acme Corp") {
  const keys = await generateKeys(keyAlg);
  const profile = intermediateProfile(organization, "eu-west-1", 42);
  const input = { serial: "5a0b0c0d0e0f10111213141516171819", notBefore: new Date("2026-01-15T11:59:00Z"), notAfter: new Date("2027-01-15T12:00:00Z"), ...extra };
  const generic = await referenceCaCertificate(profile, { ...input, keys, keyAlgorithm: keyAlg, issuer: root });
  const issuer = issuerOf(root);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const fast = await encodeCaCertificate({ profile, ...input, spki, issuer: issuer.subjectDer, issuerKeyId: issuer.keyId, signer: issuer.signer });
  return { generic: Buffer.from(generic.rawData), fast };
}

describe("the root profile through the fast encoder", () => {
  it.each(["rsa-2048", "rsa-4096"] as const)("writes exactly the generic encoder's bytes for a self-signed %s root (RSA signatures are deterministic)", async (alg) => {
    const keys = await generateKeys(alg);
    const profile = rootProfile("Acme Corp", "mesh.example.com");
    const input = { serial: "7a0b0c0d0e0f10111213141516171819", notBefore: new Date("2026-01-15T11:59:00Z"), notAfter: new Date("2036-01-15T12:00:00Z") };
    const generic = await referenceCaCertificate(profile, { ...input, keys, keyAlgorithm: alg });
    const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
    const fast = await encodeCaCertificate({ profile, ...input, spki, signer: cryptoKeySigner(crypto, keys.privateKey, alg, spki) });
    expect(fast.toString("hex")).toBe(Buffer.from(generic.rawData).toString("hex"));
  });
});

describe("the fast intermediate encoder", () => {
  it.each(["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-4096"] as const)("writes exactly the generic encoder's bytes for a %s key under an RSA root", async (alg) => {
    const root = await rootSigner("rsa-2048");
    const { generic, fast } = await both(root, alg);
    expect(fast.toString("hex")).toBe(generic.toString("hex"));
  });

  it("matches with CRL distribution point and AIA, and with a non-printable organization", async () => {
    const root = await rootSigner("rsa-2048");
    const urls = { crlUrl: "https://meshroot.example.com/v1/trust-domains/mesh.example.com/crl", caIssuersUrl: "https://meshroot.example.com/v1/trust-domains/mesh.example.com/roots/4a/certificate" };
    const a = await both(root, "ecdsa-p256", urls);
    expect(a.fast.toString("hex")).toBe(a.generic.toString("hex"));
    const b = await both(root, "ecdsa-p256", {}, "Zürich & Co_");
    expect(b.fast.toString("hex")).toBe(b.generic.toString("hex"));
  });

  it.each(["ecdsa-p256", "ecdsa-p384"] as const)("under a %s root: same to-be-signed bytes, a valid signature, every field read back by x509 and openssl", async (alg) => {
    const root = await rootSigner(alg);
    const { generic, fast } = await both(root, "ecdsa-p256");
    const f = new x509.X509Certificate(new Uint8Array(fast));
    const g = new x509.X509Certificate(new Uint8Array(generic));
    // ECDSA signatures are randomised: compare everything but the signature.
    const tbs = (c: Buffer) => {
      const len = c[1]! & 0x80 ? 2 + (c[1]! & 0x7f) : 2;
      const inner = c.subarray(len);
      const l2 = inner[1]! & 0x80 ? 2 + (inner[1]! & 0x7f) : 2;
      const body = inner[1]! & 0x80 ? inner.subarray(l2).length && parseInt(inner.subarray(2, l2).toString("hex"), 16) : inner[1]!;
      return inner.subarray(0, l2 + (body as number)).toString("hex");
    };
    expect(tbs(fast)).toBe(tbs(generic));
    expect(await f.verify({ publicKey: root.cert.publicKey, signatureOnly: true })).toBe(true);
    expect(f.subject).toBe("O=Acme Corp, CN=Intermediate CA, L=eu-west-1, OU=generation-42");
    expect(f.issuer).toBe(root.cert.subject);
    expect(f.serialNumber).toBe("5a0b0c0d0e0f10111213141516171819");
    expect(f.notBefore.toISOString()).toBe("2026-01-15T11:59:00.000Z");
    expect(f.notAfter.toISOString()).toBe("2027-01-15T12:00:00.000Z");
    expect(f.getExtension(x509.BasicConstraintsExtension)).toMatchObject({ ca: true, pathLength: 0, critical: true });
    expect(f.getExtension(x509.KeyUsagesExtension)).toMatchObject({ usages: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, critical: true });
    expect(f.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId).toBe(Buffer.from(await f.publicKey.getKeyIdentifier()).toString("hex"));
    expect(f.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe(root.keyId);
    expect(f.getExtension("2.5.29.37")).toBeNull();
    const text = openssl(["x509", "-inform", "PEM", "-noout", "-text"], f.toString("pem"));
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(text).toContain(alg === "ecdsa-p256" ? "ecdsa-with-SHA256" : "ecdsa-with-SHA384");
  });
});

describe("subjectText", () => {
  it("reads exactly like the parsed certificate's subject, escaping included", async () => {
    for (const org of ["Acme Corp", "Acme, Inc.", " lead", "trail ", 'q"uote+plus;semi<gt>', "Zürich"]) {
      const profile = intermediateProfile(org, "c1", 3);
      expect(subjectText(profile.subject), org).toBe(new x509.Name(jsonName(profile)).toString());
    }
  });
});

import * as x509 from "@peculiar/x509";
import { createPrivateKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signingAlgorithm, type KeyAlgorithm } from "../../src/x509/key-algorithms.js";
import { pkcs8Pem } from "../../src/x509/private-keys.js";
import { validateImportedRoot } from "../../src/core/root-import.js";
import { DomainError } from "../../src/errors.js";
import { crypto, generateKeys, T0, testCore, TEST_CTX } from "../helpers.js";

const now = new Date(T0);

async function makeRoot(
  opts: { alg?: KeyAlgorithm; ca?: boolean; selfSigned?: boolean; notAfter?: Date; notBefore?: Date; keyUsage?: number; pathLength?: number; eku?: boolean; ski?: boolean } = {},
) {
  const alg = opts.alg ?? "ecdsa-p256";
  const keys = await generateKeys(alg);
  const signer = opts.selfSigned === false ? await generateKeys(alg) : keys;
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(opts.ca ?? true, opts.pathLength, true)];
  if (opts.keyUsage !== undefined) extensions.push(new x509.KeyUsagesExtension(opts.keyUsage, true));
  if (opts.eku) extensions.push(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]));
  if (opts.ski) extensions.push(await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: "4a01",
    subject: "CN=Imported Root, O=Example",
    issuer: "CN=Imported Root, O=Example",
    notBefore: opts.notBefore ?? new Date("2025-01-01T00:00:00Z"),
    notAfter: opts.notAfter ?? new Date("2035-01-01T00:00:00Z"),
    publicKey: keys.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm: signingAlgorithm(alg),
    extensions,
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  return { certificatePem: cert.toString("pem"), privateKeyPem: pkcs8Pem(pkcs8), pkcs8 };
}

async function code(p: Promise<unknown>) {
  return p.then(
    () => "ok",
    (e: unknown) => (e instanceof DomainError ? e.code : String(e)),
  );
}

describe("root import", () => {
  it("accepts a self-signed CA with its PKCS#8 key and names the key algorithm", async () => {
    const root = await makeRoot({ alg: "ecdsa-p384" });
    const imported = await validateImportedRoot(root, now, crypto);
    expect(imported.keyAlgorithm).toBe("ecdsa-p384");
    expect(Buffer.from(imported.pkcs8)).toEqual(Buffer.from(root.pkcs8));
  });

  it("accepts SEC1 (EC PRIVATE KEY) and PKCS#1 (RSA PRIVATE KEY) keys", async () => {
    for (const [alg, type] of [["ecdsa-p256", "sec1"], ["rsa-2048", "pkcs1"]] as const) {
      const root = await makeRoot({ alg });
      const legacy = createPrivateKey({ key: Buffer.from(root.pkcs8), format: "der", type: "pkcs8" }).export({ format: "pem", type }) as string;
      const imported = await validateImportedRoot({ certificatePem: root.certificatePem, privateKeyPem: legacy }, now, crypto);
      expect(imported.keyAlgorithm).toBe(alg);
    }
  });

  it("rejects a certificate that is not a CA", async () => {
    expect(await code(validateImportedRoot(await makeRoot({ ca: false }), now, crypto))).toBe("invalid_root");
  });

  it("rejects a CA whose keyUsage lacks keyCertSign", async () => {
    const root = await makeRoot({ keyUsage: x509.KeyUsageFlags.digitalSignature });
    expect(await code(validateImportedRoot(root, now, crypto))).toBe("invalid_root");
  });

  it("rejects a certificate that is not self-signed", async () => {
    expect(await code(validateImportedRoot(await makeRoot({ selfSigned: false }), now, crypto))).toBe("invalid_root");
  });

  it("rejects a key that does not match", async () => {
    const a = await makeRoot();
    const b = await makeRoot();
    expect(await code(validateImportedRoot({ certificatePem: a.certificatePem, privateKeyPem: b.privateKeyPem }, now, crypto))).toBe("key_mismatch");
  });

  it("rejects an expired root, an encrypted key, garbage and a key in the certificate field", async () => {
    expect(await code(validateImportedRoot(await makeRoot({ notAfter: new Date("2025-06-01T00:00:00Z") }), now, crypto))).toBe("root_expired");
    const root = await makeRoot();
    const encrypted = createPrivateKey({ key: Buffer.from(root.pkcs8), format: "der", type: "pkcs8" }).export({
      format: "pem",
      type: "pkcs8",
      cipher: "aes-256-cbc",
      passphrase: "pw",
    }) as string;
    expect(await code(validateImportedRoot({ ...root, privateKeyPem: encrypted }, now, crypto))).toBe("invalid_pem");
    expect(await code(validateImportedRoot({ ...root, certificatePem: "hello" }, now, crypto))).toBe("invalid_pem");
    expect(await code(validateImportedRoot({ ...root, certificatePem: root.privateKeyPem }, now, crypto))).toBe("invalid_pem");
    const junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    expect(await code(validateImportedRoot({ ...root, certificatePem: junk }, now, crypto))).toBe("invalid_pem");
  });

  it("rejects an unsupported key (RSA 1024)", async () => {
    const keys = (await crypto.subtle.generateKey(
      { name: "RSASSA-PKCS1-v1_5", modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
      true,
      ["sign", "verify"],
    )) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "01",
      name: "CN=weak",
      keys,
      notBefore: new Date("2025-01-01T00:00:00Z"),
      notAfter: new Date("2035-01-01T00:00:00Z"),
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
    const err = await code(validateImportedRoot({ certificatePem: cert.toString("pem"), privateKeyPem: pkcs8Pem(pkcs8) }, now, crypto));
    expect(err).toBe("unsupported_key_algorithm");
  });

  it("refuses roots Istio cannot use, each with its own code (issue 16, item 4)", async () => {
    const CA = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;
    expect(await code(validateImportedRoot(await makeRoot({ pathLength: 0 }), now, crypto))).toBe("root_path_length");
    expect(await code(validateImportedRoot(await makeRoot({ keyUsage: x509.KeyUsageFlags.keyCertSign }), now, crypto))).toBe("root_key_usage");
    expect(await code(validateImportedRoot(await makeRoot({ eku: true }), now, crypto))).toBe("root_extended_key_usage");
    const future = new Date(now.getTime() + 6 * 60_000);
    expect(await code(validateImportedRoot(await makeRoot({ notBefore: future }), now, crypto))).toBe("root_not_yet_valid");
    // Still accepted: pathlen 1, keyUsage with both bits, notBefore within the 5-minute skew.
    expect(await code(validateImportedRoot(await makeRoot({ pathLength: 1, keyUsage: CA }), now, crypto))).toBe("ok");
    expect(await code(validateImportedRoot(await makeRoot({ notBefore: new Date(now.getTime() + 4 * 60_000) }), now, crypto))).toBe("ok");
  });

  it("warns about a root without a subject key identifier, and not about one with it", async () => {
    expect((await validateImportedRoot(await makeRoot(), now, crypto)).warnings).toEqual([expect.stringContaining("subjectKeyIdentifier")]);
    expect((await validateImportedRoot(await makeRoot({ ski: true }), now, crypto)).warnings).toEqual([]);
  });

  it("importing a root that already serves another trust domain names that domain (root_in_use)", async () => {
    const { core } = testCore();
    const root = await makeRoot({ ski: true });
    await core.trustDomains.create({ name: "first.example", import: root }, TEST_CTX);
    const err = await core.trustDomains.create({ name: "second.example", import: root }, TEST_CTX).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe("root_in_use");
    expect((err as DomainError).message).toContain("first.example");
    await expect(core.trustDomains.get("second.example")).rejects.toMatchObject({ code: "trust_domain_not_found" });
  });

  it("an imported root signs intermediates whose AKI is its SKI, and its organization carries over", async () => {
    const { core } = testCore();
    const root = await makeRoot({ alg: "rsa-2048" });
    const td = await core.trustDomains.create({ name: "imported.example", import: root }, TEST_CTX);
    expect(td.roots[0]!.imported).toBe(true);
    expect(td.domain.organization).toBe("Example");
    await core.clusters.register({ name: "c1", trustDomain: "imported.example" }, TEST_CTX);
    const issued = await core.issuance.issue("c1", {}, TEST_CTX);
    const inter = new x509.X509Certificate(issued.record.certPem);
    const rootCert = new x509.X509Certificate(root.certificatePem);
    expect(await inter.verify({ publicKey: rootCert.publicKey, signatureOnly: true })).toBe(true);
    expect(inter.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId).toBe(td.roots[0]!.keyId);
    expect(inter.issuer).toBe(rootCert.subject);
  });
});

import * as x509 from "@peculiar/x509";
import { createPrivateKey } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signingAlgorithm, type KeyAlgorithm } from "../../src/x509/key-algorithms.js";
import { pkcs8Pem } from "../../src/x509/private-keys.js";
import { validateImportedRoot } from "../../src/core/root-import.js";
import { DomainError } from "../../src/errors.js";
import { crypto, generateKeys, T0, testCore, TEST_CTX } from "../helpers.js";

const now = new Date(T0);

async function makeRoot(opts: { alg?: KeyAlgorithm; ca?: boolean; selfSigned?: boolean; notAfter?: Date; keyUsage?: number } = {}) {
  const alg = opts.alg ?? "ecdsa-p256";
  const keys = await generateKeys(alg);
  const signer = opts.selfSigned === false ? await generateKeys(alg) : keys;
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(opts.ca ?? true, undefined, true)];
  if (opts.keyUsage !== undefined) extensions.push(new x509.KeyUsagesExtension(opts.keyUsage, true));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: "4a01",
    subject: "CN=Imported Root, O=Example",
    issuer: "CN=Imported Root, O=Example",
    notBefore: new Date("2025-01-01T00:00:00Z"),
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

import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { verifyCsr } from "../../src/ca/csr.js";
import { DomainError } from "../../src/errors.js";
import { crypto, makeCsr } from "../helpers.js";

async function code(p: Promise<unknown>) {
  return p.then(
    () => "ok",
    (e: unknown) => (e instanceof DomainError ? e.code : String(e)),
  );
}

/** Flips one bit of the CSR's signature (the last bytes of the DER). */
function tamperSignature(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
  der[der.length - 3]! ^= 0x01;
  return new x509.Pkcs10CertificateRequest(der).toString("pem");
}

describe("CSR verification", () => {
  it("returns the public key and algorithm of a well-signed CSR", async () => {
    for (const alg of ["ecdsa-p256", "ecdsa-p384", "rsa-2048"] as const) {
      const { pem } = await makeCsr(alg);
      expect((await verifyCsr(pem, crypto)).keyAlgorithm).toBe(alg);
    }
  });

  it("rejects a CSR whose signature does not verify", async () => {
    const { pem } = await makeCsr();
    expect(await code(verifyCsr(tamperSignature(pem), crypto))).toBe("csr_signature_invalid");
  });

  it("rejects unsupported keys: P-521 and Ed25519", async () => {
    const p521 = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-521" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const csr521 = await x509.Pkcs10CertificateRequestGenerator.create({ name: "CN=x", keys: p521, signingAlgorithm: { name: "ECDSA", hash: "SHA-512" } as EcdsaParams });
    expect(await code(verifyCsr(csr521.toString("pem"), crypto))).toBe("unsupported_key_algorithm");
    const ed = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const csrEd = await x509.Pkcs10CertificateRequestGenerator.create({ name: "CN=x", keys: ed, signingAlgorithm: { name: "Ed25519" } });
    expect(await code(verifyCsr(csrEd.toString("pem"), crypto))).toBe("unsupported_key_algorithm");
  });

  it("rejects PEM that is not a CSR, broken base64, and DER that is not PKCS#10", async () => {
    expect(await code(verifyCsr("not pem", crypto))).toBe("invalid_pem");
    expect(await code(verifyCsr("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", crypto))).toBe("invalid_pem");
    expect(await code(verifyCsr("-----BEGIN CERTIFICATE REQUEST-----\n@@@@\n-----END CERTIFICATE REQUEST-----", crypto))).toBe("invalid_pem");
    expect(await code(verifyCsr("-----BEGIN CERTIFICATE REQUEST-----\nMAMCAQA=\n-----END CERTIFICATE REQUEST-----", crypto))).toBe("invalid_csr");
    const { pem } = await makeCsr();
    expect(await code(verifyCsr(pem + pem, crypto))).toBe("invalid_pem");
  });
});

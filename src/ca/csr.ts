import * as x509 from "@peculiar/x509";
import { DomainError } from "../errors.js";
import { keyAlgorithmOf, type KeyAlgorithm } from "./key-algorithms.js";
import { parseSinglePem } from "./pem.js";

export interface VerifiedCsr {
  publicKey: x509.PublicKey;
  keyAlgorithm: KeyAlgorithm;
}

/**
 * Parses a PKCS#10 CSR, checks its signature and key algorithm, and returns only its public
 * key: subject and extensions come from the profile, never from the CSR. Throws `invalid_pem`,
 * `invalid_csr`, `unsupported_key_algorithm` or `csr_signature_invalid`.
 */
export async function verifyCsr(pem: string, crypto: Crypto): Promise<VerifiedCsr> {
  const block = parseSinglePem(pem, "csrPem", ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(block.der);
  } catch {
    throw new DomainError("invalid_csr", "csrPem: the CERTIFICATE REQUEST could not be decoded as PKCS#10");
  }
  const keyAlgorithm = keyAlgorithmOf(csr.publicKey.algorithm, "the CSR");
  const ok = await csr.verify(crypto).catch(() => false);
  if (!ok) throw new DomainError("csr_signature_invalid", "csrPem: the CSR's signature does not verify with its public key");
  return { publicKey: csr.publicKey, keyAlgorithm };
}

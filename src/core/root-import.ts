import { timingSafeEqual } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { DomainError } from "../errors.js";
import { keyAlgorithmOf, type KeyAlgorithm } from "../x509/key-algorithms.js";
import { parsePrivateKeyPem } from "../x509/private-keys.js";
import { parseSinglePem } from "../x509/pem.js";

export interface ImportedRoot {
  cert: x509.X509Certificate;
  keyAlgorithm: KeyAlgorithm;
  pkcs8: Uint8Array<ArrayBuffer>;
}

/**
 * Validates a root to import: one PEM certificate that is a CA (basicConstraints CA:TRUE, and
 * keyCertSign when keyUsage is present), self-signed (issuer = subject, signature verifies with
 * its own key), currently valid, with a supported key, and a private key that matches it.
 * Throws `invalid_pem`, `invalid_root`, `root_expired`, `unsupported_key_algorithm` or
 * `key_mismatch`.
 */
export async function validateImportedRoot(
  input: { certificatePem: string; privateKeyPem: string },
  now: Date,
  crypto: Crypto,
): Promise<ImportedRoot> {
  const block = parseSinglePem(input.certificatePem, "import.certificatePem", ["CERTIFICATE"]);
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(block.der);
  } catch {
    throw new DomainError("invalid_pem", "import.certificatePem: the CERTIFICATE could not be decoded as X.509");
  }
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw new DomainError("invalid_root", "the imported certificate is not a CA (basicConstraints CA:TRUE is missing)");
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  if (ku && !(ku.usages & x509.KeyUsageFlags.keyCertSign)) {
    throw new DomainError("invalid_root", "the imported certificate's keyUsage does not allow keyCertSign");
  }
  const keyAlgorithm = keyAlgorithmOf(cert.publicKey.algorithm, "the imported certificate");
  const selfSigned = cert.subject === cert.issuer && (await cert.verify({ signatureOnly: true }, crypto).catch(() => false));
  if (!selfSigned) throw new DomainError("invalid_root", "the imported certificate is not self-signed");
  if (cert.notAfter.getTime() <= now.getTime()) {
    throw new DomainError("root_expired", `the imported certificate expired at ${cert.notAfter.toISOString()}`);
  }
  const key = parsePrivateKeyPem(input.privateKeyPem, "import.privateKeyPem");
  const certSpki = new Uint8Array(cert.publicKey.rawData);
  if (certSpki.length !== key.spki.length || !timingSafeEqual(certSpki, key.spki)) {
    throw new DomainError("key_mismatch", "import.privateKeyPem does not match the certificate's public key");
  }
  return { cert, keyAlgorithm, pkcs8: key.pkcs8 };
}

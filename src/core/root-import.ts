import { createPublicKey, randomBytes, timingSafeEqual, verify } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { DomainError } from "../errors.js";
import { keyAlgorithmOf, type KeyAlgorithm } from "../x509/key-algorithms.js";
import { parsePrivateKeyPem } from "../x509/private-keys.js";
import { parseSinglePem } from "../x509/pem.js";
import type { Signer } from "../x509/signer.js";

const EXTENDED_KEY_USAGE = "2.5.29.37";

export interface ImportedRoot {
  cert: x509.X509Certificate;
  keyAlgorithm: KeyAlgorithm;
  pkcs8: Uint8Array<ArrayBuffer>;
  /** Problems that do not stop the import but that a strict verifier may trip on. */
  warnings: string[];
}

/** How far in the future an imported root's notBefore may be (clock skew between machines). */
export const ROOT_NOT_BEFORE_SKEW_MS = 5 * 60_000;

/**
 * Validates a root to import: one PEM certificate that is a CA (basicConstraints CA:TRUE, and
 * keyCertSign when keyUsage is present), self-signed (issuer = subject, signature verifies with
 * its own key), currently valid, with a supported key, and a private key that matches it; and
 * usable by Istio: no pathLenConstraint below 1 (the intermediate and the workloads must fit
 * under it), keyUsage (when present) with cRLSign (its CRLs must verify), no extendedKeyUsage
 * (workloads need clientAuth and serverAuth). Warns when it has no subject key identifier.
 * Throws `invalid_pem`, `invalid_root`, `root_path_length`, `root_key_usage`,
 * `root_extended_key_usage`, `root_not_yet_valid`, `root_expired`, `unsupported_key_algorithm`
 * or `key_mismatch`.
 */
export async function validateImportedRoot(
  input: { certificatePem: string; privateKeyPem: string },
  now: Date,
  crypto: Crypto,
): Promise<ImportedRoot> {
  const { cert, keyAlgorithm, warnings } = await validateRootCertificate(input.certificatePem, now, crypto);
  const key = parsePrivateKeyPem(input.privateKeyPem, "import.privateKeyPem");
  const certSpki = new Uint8Array(cert.publicKey.rawData);
  if (certSpki.length !== key.spki.length || !timingSafeEqual(certSpki, key.spki)) {
    throw new DomainError("key_mismatch", "import.privateKeyPem does not match the certificate's public key");
  }
  return { cert, keyAlgorithm, pkcs8: key.pkcs8, warnings };
}

/** The certificate checks of validateImportedRoot, for a root whose key is elsewhere (an HSM): the same errors but `key_mismatch`. */
export async function validateRootCertificate(
  certificatePem: string,
  now: Date,
  crypto: Crypto,
): Promise<Omit<ImportedRoot, "pkcs8">> {
  const input = { certificatePem };
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
  if (bc.pathLength !== undefined && bc.pathLength < 1) {
    throw new DomainError("root_path_length", `the imported certificate's pathLenConstraint is ${bc.pathLength}: meshroot puts an intermediate under it, so it must be absent or at least 1`);
  }
  if (ku && !(ku.usages & x509.KeyUsageFlags.cRLSign)) {
    throw new DomainError("root_key_usage", "the imported certificate's keyUsage does not allow cRLSign: the CRLs it signs would be rejected");
  }
  if (cert.getExtension(EXTENDED_KEY_USAGE)) {
    throw new DomainError("root_extended_key_usage", "the imported certificate has an extendedKeyUsage: it would constrain every workload under it (Istio needs none on a CA)");
  }
  if (cert.notBefore.getTime() > now.getTime() + ROOT_NOT_BEFORE_SKEW_MS) {
    throw new DomainError("root_not_yet_valid", `the imported certificate is not valid before ${cert.notBefore.toISOString()}`);
  }
  const keyAlgorithm = keyAlgorithmOf(cert.publicKey.algorithm, "the imported certificate");
  const selfSigned = cert.subject === cert.issuer && (await cert.verify({ signatureOnly: true }, crypto).catch(() => false));
  if (!selfSigned) throw new DomainError("invalid_root", "the imported certificate is not self-signed");
  if (cert.notAfter.getTime() <= now.getTime()) {
    throw new DomainError("root_expired", `the imported certificate expired at ${cert.notAfter.toISOString()}`);
  }
  const warnings = cert.getExtension(x509.SubjectKeyIdentifierExtension)
    ? []
    : ["the root has no subjectKeyIdentifier: openssl verify -x509_strict rejects chains under it; reissue it with one"];
  return { cert, keyAlgorithm, warnings };
}

/**
 * Proves that a signer holds the certificate's private key, for a key that cannot be read (an
 * HSM's): signs a fresh challenge and verifies it with the certificate's public key. Throws
 * `key_mismatch` naming `field`.
 */
export async function checkSignerMatches(cert: x509.X509Certificate, signer: Signer, field: string): Promise<void> {
  const challenge = randomBytes(32);
  const signature = await signer.sign(challenge);
  const publicKey = createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: "der", type: "spki" });
  let ok = false;
  try {
    ok = verify(signer.keyAlgorithm === "ecdsa-p384" ? "sha384" : "sha256", challenge, publicKey, signature);
  } catch {
    /* a malformed signature is no match */
  }
  if (!ok) throw new DomainError("key_mismatch", `${field} does not hold the certificate's private key: a signature made with it does not verify with the certificate's public key`);
}

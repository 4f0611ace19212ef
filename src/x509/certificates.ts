import { createHash } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { signingAlgorithm, type KeyAlgorithm } from "./key-algorithms.js";
import { intermediateProfile, type IntermediateProfileInput } from "./intermediate-profile.js";
import { rootProfile } from "./root-profile.js";
import { newSerial } from "./serial.js";

export interface SignedRoot {
  cert: x509.X509Certificate;
  serial: string;
  keyId: string;
}

/** Issues a self-signed root from the root profile. */
export async function signRoot(
  input: {
    trustDomain: string;
    organization: string;
    keyAlgorithm: KeyAlgorithm;
    keys: CryptoKeyPair;
    notBefore: Date;
    notAfter: Date;
  },
  crypto: Crypto,
): Promise<SignedRoot> {
  const profile = await rootProfile({ ...input, publicKey: input.keys.publicKey }, crypto);
  const serial = newSerial();
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial,
      subject: profile.subject,
      issuer: profile.subject,
      notBefore: input.notBefore,
      notAfter: input.notAfter,
      publicKey: input.keys.publicKey,
      signingKey: input.keys.privateKey,
      signingAlgorithm: signingAlgorithm(input.keyAlgorithm),
      extensions: profile.extensions,
    },
    crypto,
  );
  return { cert, serial, keyId: subjectKeyId(cert) };
}

export interface SigningRoot {
  cert: x509.X509Certificate;
  keyAlgorithm: KeyAlgorithm;
  keyId: string;
  privateKey: CryptoKey;
  /** DER of the certificate's subject: the issuer name of what it signs. */
  subjectDer: Uint8Array;
}

/** Issues a cluster intermediate under `root` from the intermediate profile. */
export async function signIntermediate(
  input: Omit<IntermediateProfileInput, "rootKeyId"> & { serial: string; notBefore: Date; notAfter: Date },
  root: SigningRoot,
  crypto: Crypto,
): Promise<x509.X509Certificate> {
  const profile = await intermediateProfile({ ...input, rootKeyId: root.keyId }, crypto);
  return x509.X509CertificateGenerator.create(
    {
      serialNumber: input.serial,
      subject: profile.subject,
      issuer: root.cert.subjectName,
      notBefore: input.notBefore,
      notAfter: input.notAfter,
      publicKey: input.publicKey,
      signingKey: root.privateKey,
      signingAlgorithm: signingAlgorithm(root.keyAlgorithm),
      extensions: profile.extensions,
    },
    crypto,
  );
}

/** Hex subject key identifier of a certificate, or "" when it has none. */
export function subjectKeyId(cert: x509.X509Certificate): string {
  return cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? "";
}

/** Lowercase hex SHA-256 of the certificate's DER. */
export function fingerprintSha256(cert: x509.X509Certificate): string {
  return createHash("sha256").update(new Uint8Array(cert.rawData)).digest("hex");
}

/** PEM of a certificate with a trailing newline. */
export function certPem(cert: x509.X509Certificate): string {
  return `${cert.toString("pem")}\n`;
}

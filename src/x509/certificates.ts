import { createHash } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { encodeCaCertificate, keyIdentifier } from "./ca-encoder.js";
import { rootProfile } from "./profiles.js";
import { newSerial } from "./serial.js";
import type { Signer } from "./signer.js";

/** What signs under an issuer: its subject (the issuer name of what it signs), its SKI, and its signer. */
export interface Issuer {
  /** DER of the issuer certificate's subject. */
  subjectDer: Uint8Array;
  /** Hex subject key identifier: the AKI of everything it signs. */
  keyId: string;
  signer: Signer;
}

/** Issues a self-signed root from the root profile with `signer`'s key; throws what the signer throws. */
export async function signRoot(input: { trustDomain: string; organization: string; notBefore: Date; notAfter: Date; signer: Signer; generation?: number }): Promise<x509.X509Certificate> {
  const der = await encodeCaCertificate({
    profile: rootProfile(input.organization, input.trustDomain, input.generation),
    serial: newSerial(),
    notBefore: input.notBefore,
    notAfter: input.notAfter,
    spki: input.signer.spki,
    signer: input.signer,
  });
  return new x509.X509Certificate(new Uint8Array(der));
}

/** Hex subject key identifier of a certificate: its SKI extension, else computed from its key (RFC 5280 method 1). */
export function subjectKeyId(cert: x509.X509Certificate): string {
  return cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? keyIdentifier(new Uint8Array(cert.publicKey.rawData));
}

/** Lowercase hex SHA-256 of the certificate's DER. */
export function fingerprintSha256(cert: x509.X509Certificate): string {
  return createHash("sha256").update(new Uint8Array(cert.rawData)).digest("hex");
}

/** PEM of a certificate with a trailing newline. */
export function certPem(cert: x509.X509Certificate): string {
  return `${cert.toString("pem")}\n`;
}

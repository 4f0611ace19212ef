import * as x509 from "@peculiar/x509";
import { createHash } from "node:crypto";
import { DomainError } from "../errors.js";
import { parsePem } from "../x509/pem.js";
import type { ObservedCertificate, ObservedCrl, ObservedFacts } from "./ports.js";

/**
 * What an observation's PEM texts hold, parsed once when it arrives: the fleet view compares
 * these facts, never the PEM texts (a ca-crl.pem can hold thousands of CRLs).
 */

/** Lowercase hex SHA-256 of bytes. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function certificate(der: Uint8Array<ArrayBuffer>): ObservedCertificate {
  const cert = new x509.X509Certificate(der);
  return { fingerprintSha256: sha256Hex(der), serial: cert.serialNumber.toLowerCase(), subject: cert.subject, notAfter: cert.notAfter.toISOString() };
}

function crl(der: Uint8Array<ArrayBuffer>): ObservedCrl {
  const c = new x509.X509Crl(der);
  const keyId = c.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
  return {
    keyId: keyId ? keyId.toLowerCase() : null,
    issuer: c.issuer,
    thisUpdate: c.thisUpdate.toISOString(),
    nextUpdate: c.nextUpdate?.toISOString() ?? null,
    revoked: c.entries.length,
  };
}

/** Parses each block of a PEM text as `label` with `parse`; throws `invalid_pem` naming the block. */
function blocks<T>(pem: string, field: string, label: string, what: string, parse: (der: Uint8Array<ArrayBuffer>) => T): T[] {
  return parsePem(pem, field).map((b, i) => {
    if (b.label !== label) throw new DomainError("invalid_pem", `${field}: block ${i + 1} is ${b.label}, expected ${label}`);
    try {
      return parse(b.der);
    } catch {
      throw new DomainError("invalid_pem", `${field}: block ${i + 1} is not a ${what}`);
    }
  });
}

/** The certificates of a PEM text, in order; throws `invalid_pem` on any other block. */
export function observedCertificates(pem: string, field: string): ObservedCertificate[] {
  return blocks(pem, field, "CERTIFICATE", "certificate", certificate);
}

/** The CRLs of a PEM text, in order; throws `invalid_pem` on any other block. */
export function observedCrls(pem: string, field: string): ObservedCrl[] {
  return blocks(pem, field, "X509 CRL", "CRL", crl);
}

/** Parses what a cluster reported; throws `invalid_pem`. */
export function observedFacts(o: { rootCertPem: string; caCertPem: string | null; crlPem: string | null }): ObservedFacts {
  return {
    bundleSha256: sha256Hex(o.rootCertPem),
    roots: observedCertificates(o.rootCertPem, "rootCertPem"),
    caCert: o.caCertPem === null ? null : (observedCertificates(o.caCertPem, "caCertPem")[0] ?? null),
    crls: o.crlPem === null ? null : observedCrls(o.crlPem, "crlPem"),
  };
}

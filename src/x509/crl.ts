import * as x509 from "@peculiar/x509";
import { DomainError } from "../errors.js";
import type { Issuer } from "./certificates.js";
import { encodeCrl, type CrlEntry } from "./crl-encoder.js";
import { parseSinglePem } from "./pem.js";

export type { CrlEntry };
export { REVOCATION_REASONS, REVOCATION_REASON_NAMES, type RevocationReason } from "./revocation-reasons.js";

export const CRL_NUMBER_OID = "2.5.29.20";

export interface SignedCrl {
  der: Uint8Array<ArrayBuffer>;
  /** thisUpdate and nextUpdate as written (whole seconds). */
  thisUpdate: Date;
  nextUpdate: Date;
}

/**
 * Signs an RFC 5280 v2 CRL as `issuer`: AKI, CRL number, thisUpdate, nextUpdate, and each entry
 * with its revocation date and reason code. Returns its DER without parsing it back: for CRLs of any size.
 */
export async function signCrlDer(input: { issuer: Issuer; number: number; thisUpdate: Date; nextUpdate: Date; entries: CrlEntry[] }): Promise<SignedCrl> {
  const seconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
  const der = await encodeCrl(input);
  return { der, thisUpdate: seconds(input.thisUpdate), nextUpdate: seconds(input.nextUpdate) };
}

/** The CRL number of a CRL, or undefined when it has none. */
export function crlNumber(crl: x509.X509Crl): number | undefined {
  const ext = crl.getExtension(CRL_NUMBER_OID);
  if (!ext) return undefined;
  const der = new Uint8Array(ext.value);
  if (der[0] !== 0x02 || der[1] === undefined || der[1] > 7) return undefined;
  return parseInt(Buffer.from(der.subarray(2, 2 + der[1])).toString("hex") || "0", 16);
}

/**
 * Parses and checks a CRL an intermediate signed (external custody upload): PEM or DER, issuer
 * is the intermediate's subject, signature verifies with its key, nextUpdate is present and in
 * the future, thisUpdate not more than 5 minutes ahead. Throws `invalid_pem`, `invalid_crl`.
 */
export async function verifyUploadedCrl(
  body: Uint8Array,
  issuer: x509.X509Certificate,
  now: Date,
  crypto: Crypto,
): Promise<{ crl: x509.X509Crl; number: number | undefined }> {
  const text = Buffer.from(body).toString("latin1");
  const der = text.includes("-----BEGIN") ? parseSinglePem(text, "crl", ["X509 CRL", "CRL"]).der : new Uint8Array(body);
  let crl: x509.X509Crl;
  try {
    crl = new x509.X509Crl(der);
  } catch {
    throw new DomainError("invalid_crl", "the body is not a DER or PEM X.509 CRL");
  }
  if (crl.issuer !== issuer.subject) {
    throw new DomainError("invalid_crl", `the CRL's issuer is "${crl.issuer}", not the intermediate "${issuer.subject}"`);
  }
  const ok = await crl.verify({ publicKey: issuer.publicKey }, crypto).catch(() => false);
  if (!ok) throw new DomainError("invalid_crl", "the CRL's signature does not verify with the intermediate's public key");
  if (!crl.nextUpdate) throw new DomainError("invalid_crl", "the CRL has no nextUpdate");
  if (crl.nextUpdate.getTime() <= now.getTime()) {
    throw new DomainError("invalid_crl", `the CRL expired at ${crl.nextUpdate.toISOString()}`);
  }
  if (crl.thisUpdate.getTime() > now.getTime() + 5 * 60_000) {
    throw new DomainError("invalid_crl", `the CRL's thisUpdate ${crl.thisUpdate.toISOString()} is in the future`);
  }
  return { crl, number: crlNumber(crl) };
}

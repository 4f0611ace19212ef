import * as x509 from "@peculiar/x509";
import { DomainError } from "../errors.js";
import { subjectKeyId, type Issuer } from "./certificates.js";
import { children, DerError, expectTag, readOid, readTlv, type Tlv } from "./der-reader.js";
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

const AKI_OID = "2.5.29.35";
/** CRL extensions whose meaning changes what a verifier concludes: never passed to every cluster. */
const REFUSED_CRL_EXTENSIONS: Record<string, string> = {
  "2.5.29.27": "a delta CRL indicator (delta CRLs are not accepted)",
  "2.5.29.28": "an issuing distribution point (partitioned or indirect CRLs are not accepted)",
  "2.5.29.46": "a freshest CRL pointer (delta CRLs are not accepted)",
};
/** The only entry extensions accepted, non-critical: reasonCode and invalidityDate. */
const ENTRY_EXTENSIONS: Record<string, string> = { "2.5.29.21": "reasonCode", "2.5.29.24": "invalidityDate" };

/** Extensions ::= SEQUENCE OF { extnID, critical BOOLEAN DEFAULT FALSE, extnValue }: their OIDs; refuses critical ones and duplicates. */
function extensionOids(der: Uint8Array, list: Tlv, where: string): string[] {
  const oids: string[] = [];
  for (const ext of children(der, expectTag(list, 0x30, `${where} extensions`))) {
    const [id, second] = children(der, expectTag(ext, 0x30, "Extension"));
    const extnId = readOid(der, id!);
    if (second?.tag === 0x01 && der[second.start] !== 0) throw new CrlProfileError(`${where} extension ${extnId} is critical; the accepted profile has no critical extensions`);
    if (oids.includes(extnId)) throw new CrlProfileError(`${where} extension ${extnId} appears twice`);
    oids.push(extnId);
  }
  return oids;
}

class CrlProfileError extends Error {}

/**
 * The strict profile of an uploaded CRL (RFC 5280 §5, what every cluster's verifier can use):
 * v2; CRL extensions with an AKI and a CRL number, none critical, no delta CRL indicator, issuing
 * distribution point or freshest CRL; entries with positive serials and only reasonCode and
 * invalidityDate as (non-critical) entry extensions. Throws CrlProfileError or DerError.
 */
function checkCrlProfile(der: Uint8Array): void {
  const top = expectTag(readTlv(der, 0), 0x30, "CertificateList");
  const [tbs] = children(der, top);
  const fields = children(der, expectTag(tbs, 0x30, "tbsCertList"));
  const version = fields[0]!;
  if (version.tag !== 0x02 || version.end - version.start !== 1 || der[version.start] !== 1) throw new CrlProfileError("the CRL is not version 2 (v2)");
  // version, signature, issuer, thisUpdate, then nextUpdate (a Time), revokedCertificates (a SEQUENCE), [0] extensions.
  let i = 4;
  if (fields[i] && (fields[i]!.tag === 0x17 || fields[i]!.tag === 0x18)) i++;
  const revoked = fields[i]?.tag === 0x30 ? fields[i++] : undefined;
  const extensions = fields[i]?.tag === 0xa0 ? fields[i++] : undefined;
  if (i !== fields.length) throw new CrlProfileError("tbsCertList has unexpected elements");
  if (!extensions) throw new CrlProfileError("the CRL has no extensions; it needs an authorityKeyIdentifier and a CRL number");
  const [list, ...more] = children(der, extensions);
  if (more.length) throw new CrlProfileError("crlExtensions holds more than one element");
  const oids = extensionOids(der, list!, "CRL");
  for (const oid of oids) if (REFUSED_CRL_EXTENSIONS[oid]) throw new CrlProfileError(`the CRL has ${REFUSED_CRL_EXTENSIONS[oid]}`);
  if (!oids.includes(AKI_OID)) throw new CrlProfileError("the CRL has no authorityKeyIdentifier");
  if (!oids.includes(CRL_NUMBER_OID)) throw new CrlProfileError("the CRL has no CRL number");
  for (const entry of revoked ? children(der, revoked) : []) {
    const [serial, , entryExts, ...rest] = children(der, expectTag(entry, 0x30, "revoked entry"));
    expectTag(serial, 0x02, "userCertificate");
    const first = der[serial!.start];
    const serialHex = Buffer.from(der.subarray(serial!.start, serial!.end)).toString("hex");
    if (first === undefined || first & 0x80 || /^0*$/.test(serialHex)) throw new CrlProfileError(`revoked serial ${serialHex || "(empty)"} is not a positive integer`);
    if (rest.length) throw new CrlProfileError(`entry ${serialHex} has unexpected elements`);
    for (const oid of entryExts ? extensionOids(der, entryExts, `entry ${serialHex}`) : []) {
      if (!ENTRY_EXTENSIONS[oid]) throw new CrlProfileError(`entry ${serialHex} has extension ${oid}; only reasonCode and invalidityDate are accepted`);
    }
  }
}

/**
 * Parses and checks a CRL an intermediate signed (external custody upload): PEM or DER, issuer
 * is the intermediate's subject, signature verifies with its key, nextUpdate is present and in
 * the future, thisUpdate not more than 5 minutes ahead, the strict profile of checkCrlProfile,
 * and an AKI that is the intermediate's SKI. Throws `invalid_pem`, `invalid_crl`.
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
  try {
    checkCrlProfile(der);
  } catch (err) {
    if (err instanceof CrlProfileError) throw new DomainError("invalid_crl", `the CRL is outside the accepted profile: ${err.message}`);
    if (err instanceof DerError) throw new DomainError("invalid_crl", `the CRL could not be decoded (${err.message})`);
    throw err;
  }
  const aki = crl.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId;
  if (aki?.toLowerCase() !== subjectKeyId(issuer).toLowerCase()) {
    throw new DomainError("invalid_crl", `the CRL's authorityKeyIdentifier ${aki ?? "(no keyIdentifier)"} is not the intermediate's subject key identifier ${subjectKeyId(issuer)}`);
  }
  return { crl, number: crlNumber(crl) };
}

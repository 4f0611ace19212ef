import { children, expectTag, readTlv } from "./der-reader.js";

/**
 * The subject (DER of its Name) and SubjectPublicKeyInfo (DER) of an X.509 certificate, read
 * with the bounds-checked DER reader: what signing under an issuer needs, without a full parse
 * (a CRL signed for each of thousands of intermediates would otherwise parse each certificate).
 * Throws DerError on a malformed certificate.
 */
export function subjectAndSpki(der: Uint8Array): { subjectDer: Uint8Array; spki: Uint8Array } {
  const cert = expectTag(readTlv(der, 0), 0x30, "Certificate");
  const tbs = expectTag(children(der, cert)[0], 0x30, "TBSCertificate");
  const fields = children(der, tbs);
  // version [0] EXPLICIT is optional; then serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo.
  const at = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = expectTag(fields[at + 4], 0x30, "subject");
  const spki = expectTag(fields[at + 5], 0x30, "subjectPublicKeyInfo");
  return { subjectDer: der.slice(subject.at, subject.end), spki: der.slice(spki.at, spki.end) };
}

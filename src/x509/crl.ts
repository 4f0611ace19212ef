import * as x509 from "@peculiar/x509";
import { DomainError } from "../errors.js";
import { signingAlgorithm, type KeyAlgorithm } from "./key-algorithms.js";
import { encodeCrl } from "./crl-encoder.js";
import { parseSinglePem } from "./pem.js";

export const CRL_NUMBER_OID = "2.5.29.20";

export { REVOCATION_REASONS, REVOCATION_REASON_NAMES, type RevocationReason } from "./revocation-reasons.js";
import { REVOCATION_REASONS, type RevocationReason } from "./revocation-reasons.js";

export interface CrlEntry {
  serial: string;
  revokedAt: Date;
  reason: RevocationReason;
}

export interface CrlSigner {
  cert: x509.X509Certificate;
  keyAlgorithm: KeyAlgorithm;
  keyId: string;
  privateKey: CryptoKey;
}

/** DER of a non-negative INTEGER. */
function derInteger(n: number): Uint8Array<ArrayBuffer> {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  if (parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`;
  const body = Buffer.from(hex, "hex");
  return new Uint8Array([0x02, body.length, ...body]);
}

/**
 * Signs an RFC 5280 v2 CRL: issuer and AKI of `signer`, CRL number, thisUpdate, nextUpdate, and
 * each entry with its revocation date and reason code.
 */
export async function signCrl(
  input: { signer: CrlSigner; number: number; thisUpdate: Date; nextUpdate: Date; entries: CrlEntry[] },
  crypto: Crypto,
): Promise<x509.X509Crl> {
  return new x509.X509Crl((await signCrlDer(input, crypto)).der, { berOptions: { maxNodes: 100 + 12 * input.entries.length } });
}

export interface SignedCrl {
  der: Uint8Array<ArrayBuffer>;
  /** thisUpdate and nextUpdate as written (whole seconds). */
  thisUpdate: Date;
  nextUpdate: Date;
}

/** Signs a CRL (as signCrl) and returns its DER without parsing it back: for CRLs of any size. */
export async function signCrlDer(
  input: { signer: CrlSigner; number: number; thisUpdate: Date; nextUpdate: Date; entries: CrlEntry[] },
  crypto: Crypto,
): Promise<SignedCrl> {
  const { signer } = input;
  const seconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);
  const der = await encodeCrl(
    { issuer: signer.cert, keyAlgorithm: signer.keyAlgorithm, keyId: signer.keyId, privateKey: signer.privateKey, number: input.number, thisUpdate: input.thisUpdate, nextUpdate: input.nextUpdate, entries: input.entries },
    crypto,
  );
  return { der, thisUpdate: seconds(input.thisUpdate), nextUpdate: seconds(input.nextUpdate) };
}

/** The same CRL through @peculiar/x509's generic encoder: the reference the fast encoder is tested against. */
export async function signCrlGeneric(
  input: { signer: CrlSigner; number: number; thisUpdate: Date; nextUpdate: Date; entries: CrlEntry[] },
  crypto: Crypto,
): Promise<x509.X509Crl> {
  return x509.X509CrlGenerator.create(
    {
      issuer: input.signer.cert.subjectName,
      thisUpdate: input.thisUpdate,
      nextUpdate: input.nextUpdate,
      signingKey: input.signer.privateKey,
      signingAlgorithm: signingAlgorithm(input.signer.keyAlgorithm),
      extensions: [
        new x509.AuthorityKeyIdentifierExtension(input.signer.keyId, false),
        new x509.Extension(CRL_NUMBER_OID, false, derInteger(input.number)),
      ],
      entries: input.entries.map((e) => ({ serialNumber: e.serial, revocationDate: e.revokedAt, reason: REVOCATION_REASONS[e.reason] })),
    },
    crypto,
  );
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

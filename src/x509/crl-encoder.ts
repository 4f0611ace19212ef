import type { Issuer } from "./certificates.js";
import { REVOCATION_REASONS, type RevocationReason } from "./revocation-reasons.js";
import { algorithmIdentifier, extension, integerHex, seq, time, timeLength, tlv, uint, writeTime } from "./der.js";

/**
 * A DER encoder for the one CRL shape meshroot signs (v2; AKI and CRL number extensions;
 * entries with a reason code). The generic ASN.1 encoder takes minutes for 100,000 entries;
 * this one writes the bytes directly. Tests compare it byte for byte with the generic path and
 * parse every field back with @peculiar/x509 and openssl.
 */

const REASON_OID = "2.5.29.21";
/**
 * crlEntryExtensions per reason code. RFC 5280 §5.3.1: for `unspecified` the reason code
 * extension SHOULD be absent, so the entry has no extensions at all (an empty SEQUENCE would
 * break Extensions' SIZE (1..MAX), which is what the generic encoder writes).
 */
const reasonExtensions = new Map<number, Buffer>(
  Object.values(REVOCATION_REASONS).map((code) => [code, code === 0 ? Buffer.alloc(0) : seq(extension(REASON_OID, tlv(0x0a, Buffer.from([code]))))]),
);

/** One revoked certificate. */
export interface CrlEntry {
  serial: string;
  revokedAt: Date;
  reason: RevocationReason;
}

export interface EncodeCrlInput {
  issuer: Issuer;
  number: number;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: CrlEntry[];
}

/** Builds and signs the CRL; returns its DER. */
export async function encodeCrl(input: EncodeCrlInput): Promise<Uint8Array<ArrayBuffer>> {
  const { issuer } = input;
  const entries = encodeEntries(input.entries);
  const extensions = tlv(0xa0, seq(extension("2.5.29.35", seq(tlv(0x80, Buffer.from(issuer.keyId, "hex")))), extension("2.5.29.20", uint(input.number))));
  const algorithm = algorithmIdentifier(issuer.signer.keyAlgorithm);
  const tbs = seq(
    Buffer.from([0x02, 0x01, 0x01]),
    algorithm,
    Buffer.from(issuer.subjectDer),
    time(input.thisUpdate),
    time(input.nextUpdate),
    ...(input.entries.length ? [seq(entries)] : []),
    extensions,
  );
  const signature = await issuer.signer.sign(tbs);
  return new Uint8Array(seq(tbs, algorithm, tlv(0x03, Buffer.from([0]), Buffer.from(signature))));
}

/**
 * The revokedCertificates entries, written straight into one buffer (the hot loop of a large
 * CRL): a first pass sizes each entry, a second writes it, so an entry costs no allocation.
 */
function encodeEntries(list: CrlEntry[]): Buffer {
  // Each serial as the hex of its INTEGER content: no leading zero bytes, 00 first if the top bit is set.
  const serials = list.map((e) => integerHex(e.serial));
  const bodies = list.map((e, i) => 2 + serials[i]!.length / 2 + timeLength(e.revokedAt) + reasonExtensions.get(REVOCATION_REASONS[e.reason])!.length);
  const out = Buffer.allocUnsafe(bodies.reduce((sum, body) => sum + (body < 0x80 ? 2 : 3) + body, 0));
  let at = 0;
  list.forEach((e, i) => {
    const body = bodies[i]!;
    out[at++] = 0x30;
    if (body < 0x80) out[at++] = body;
    else (out[at++] = 0x81), (out[at++] = body);
    out[at++] = 0x02;
    out[at++] = serials[i]!.length / 2;
    at += out.write(serials[i]!, at, "hex");
    at = writeTime(out, at, e.revokedAt);
    at += reasonExtensions.get(REVOCATION_REASONS[e.reason])!.copy(out, at);
  });
  return out;
}

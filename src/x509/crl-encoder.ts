import type * as x509 from "@peculiar/x509";
import type { CrlEntry } from "./crl.js";
import { REVOCATION_REASONS } from "./revocation-reasons.js";
import type { KeyAlgorithm } from "./key-algorithms.js";
import { signingAlgorithm } from "./key-algorithms.js";
import { algorithmIdentifier, ecdsaDer, extension, isUtcTime, seq, time, tlv, uint } from "./der.js";

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

export interface EncodeCrlInput {
  issuer: x509.X509Certificate;
  keyAlgorithm: KeyAlgorithm;
  keyId: string;
  privateKey: CryptoKey;
  number: number;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: CrlEntry[];
}

/** Builds and signs the CRL; returns its DER. */
export async function encodeCrl(input: EncodeCrlInput, crypto: Crypto): Promise<Uint8Array<ArrayBuffer>> {
  const entries = encodeEntries(input.entries);
  const numberBytes = Buffer.from(input.number.toString(16).padStart(input.number.toString(16).length + (input.number.toString(16).length % 2), "0"), "hex");
  const extensions = tlv(
    0xa0,
    seq(
      extension("2.5.29.35", seq(tlv(0x80, Buffer.from(input.keyId, "hex")))),
      extension("2.5.29.20", uint(numberBytes)),
    ),
  );
  const algorithm = algorithmIdentifier(input.keyAlgorithm);
  const tbs = seq(
    Buffer.from([0x02, 0x01, 0x01]),
    algorithm,
    Buffer.from(input.issuer.subjectName.toArrayBuffer()),
    time(input.thisUpdate),
    time(input.nextUpdate),
    ...(input.entries.length ? [seq(entries)] : []),
    extensions,
  );
  const raw = Buffer.from(await crypto.subtle.sign(signingAlgorithm(input.keyAlgorithm), input.privateKey, new Uint8Array(tbs)));
  const signature = input.keyAlgorithm.startsWith("ecdsa") ? ecdsaDer(raw) : raw;
  const der = seq(tbs, algorithm, tlv(0x03, Buffer.from([0]), signature));
  return new Uint8Array(der);
}

/**
 * The revokedCertificates entries, written straight into one buffer (the hot loop of a large
 * CRL): a first pass sizes each entry, a second writes it, so an entry costs no allocation.
 */
function encodeEntries(list: CrlEntry[]): Buffer {
  // Each serial as the hex of its INTEGER content: no leading zero bytes, 00 first if the top bit is set.
  const serials = list.map((e) => {
    const hex = e.serial.length % 2 ? `0${e.serial}` : e.serial;
    let z = 0;
    while (z < hex.length - 2 && hex.startsWith("00", z)) z += 2;
    return parseInt(hex.slice(z, z + 2), 16) & 0x80 ? `00${hex.slice(z)}` : hex.slice(z);
  });
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

const timeLength = (d: Date) => (isUtcTime(d) ? 15 : 17);

/** Writes an RFC 5280 time (as `time` in der.ts does) at `at`; returns the end. */
function writeTime(out: Buffer, at: number, d: Date): number {
  const utc = isUtcTime(d);
  out[at++] = utc ? 0x17 : 0x18;
  out[at++] = utc ? 13 : 15;
  const two = (n: number) => ((out[at++] = 0x30 + Math.floor(n / 10)), (out[at++] = 0x30 + (n % 10)));
  if (!utc) two(Math.floor(d.getUTCFullYear() / 100));
  two(d.getUTCFullYear() % 100);
  two(d.getUTCMonth() + 1);
  two(d.getUTCDate());
  two(d.getUTCHours());
  two(d.getUTCMinutes());
  two(d.getUTCSeconds());
  out[at++] = 0x5a; // "Z"
  return at;
}

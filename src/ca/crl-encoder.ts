import type * as x509 from "@peculiar/x509";
import type { CrlEntry } from "./crl.js";
import { REVOCATION_REASONS } from "./revocation-reasons.js";
import type { KeyAlgorithm } from "./key-algorithms.js";
import { signingAlgorithm } from "./key-algorithms.js";
import { algorithmIdentifier, ecdsaDer, extension, seq, time, tlv, uint } from "./der.js";

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
  const serialLen = new Uint8Array(list.length);
  const pad = new Uint8Array(list.length);
  let total = 0;
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    // INTEGER content: the serial's bytes without leading zero bytes, plus 0x00 if the top bit is set.
    let hex = e.serial;
    let z = 0;
    while (z < hex.length - 2 && hex[z] === "0" && hex[z + 1] === "0") z += 2;
    if (hex.length % 2) hex = `0${hex}`;
    const bytes = (hex.length - z) / 2;
    const top = parseInt(hex.slice(z, z + 2), 16);
    pad[i] = top & 0x80 ? 1 : 0;
    serialLen[i] = bytes + pad[i]!;
    const body = 2 + serialLen[i]! + timeLength(e.revokedAt) + reasonExtensions.get(REVOCATION_REASONS[e.reason])!.length;
    total += (body < 0x80 ? 2 : 3) + body;
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    const ext = reasonExtensions.get(REVOCATION_REASONS[e.reason])!;
    const body = 2 + serialLen[i]! + timeLength(e.revokedAt) + ext.length;
    out[at++] = 0x30;
    if (body < 0x80) out[at++] = body;
    else (out[at++] = 0x81), (out[at++] = body);
    out[at++] = 0x02;
    out[at++] = serialLen[i]!;
    if (pad[i]) out[at++] = 0;
    const hex = e.serial.length % 2 ? `0${e.serial}` : e.serial;
    at += out.write(hex.slice(hex.length - 2 * (serialLen[i]! - pad[i]!)), at, "hex");
    at = writeTime(out, at, e.revokedAt);
    at += ext.copy(out, at);
  }
  return out;
}

const timeLength = (d: Date) => (d.getUTCFullYear() < 2050 ? 15 : 17);

/** Writes an RFC 5280 time (UTCTime through 2049, else GeneralizedTime) at `at`; returns the end. */
function writeTime(out: Buffer, at: number, d: Date): number {
  const y = d.getUTCFullYear();
  const utc = y < 2050;
  out[at++] = utc ? 0x17 : 0x18;
  out[at++] = utc ? 13 : 15;
  const two = (n: number) => ((out[at++] = 0x30 + Math.floor(n / 10)), (out[at++] = 0x30 + (n % 10)));
  if (!utc) two(Math.floor(y / 100));
  two(y % 100);
  two(d.getUTCMonth() + 1);
  two(d.getUTCDate());
  two(d.getUTCHours());
  two(d.getUTCMinutes());
  two(d.getUTCSeconds());
  out[at++] = 0x5a; // "Z"
  return at;
}

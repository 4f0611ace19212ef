/** Small DER writers for the fixed shapes meshroot encodes itself (roots, intermediates, CRLs). */
import { children, expectTag, readBitString, readTlv } from "./der-reader.js";
import type { KeyAlgorithm } from "./key-algorithms.js";

export function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

export const seq = (...parts: Buffer[]) => tlv(0x30, ...parts);

/**
 * The content of a DER INTEGER for a non-negative number given in hex (a serial, a CRL number):
 * as hex, leading zero bytes dropped, a 00 byte added when the top bit is set.
 */
export function integerHex(hex: string): string {
  const even = hex.length % 2 ? `0${hex}` : hex;
  let z = 0;
  while (z < even.length - 2 && even.startsWith("00", z)) z += 2;
  return parseInt(even.slice(z, z + 2), 16) & 0x80 ? `00${even.slice(z)}` : even.slice(z);
}

/** A DER INTEGER from unsigned big-endian bytes, a hex string, or a non-negative safe integer. */
export function uint(value: Uint8Array | string | number): Buffer {
  const hex = typeof value === "number" ? value.toString(16) : typeof value === "string" ? value : Buffer.from(value).toString("hex");
  return tlv(0x02, Buffer.from(integerHex(hex), "hex"));
}

export function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const out = [a! * 40 + b!];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
export const isUtcTime = (d: Date) => d.getUTCFullYear() < 2050;

/** Encoded length of `time(d)`. */
export const timeLength = (d: Date) => (isUtcTime(d) ? 15 : 17);

/** Writes the RFC 5280 time of `d` (whole seconds) into `out` at `at`; returns the end. For CRL entries, written in place. */
export function writeTime(out: Buffer, at: number, d: Date): number {
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

/** RFC 5280 time: UTCTime through 2049, GeneralizedTime from 2050. */
export function time(d: Date): Buffer {
  const out = Buffer.allocUnsafe(timeLength(d));
  writeTime(out, 0, d);
  return out;
}

export function algorithmIdentifier(alg: KeyAlgorithm): Buffer {
  if (alg === "ecdsa-p256") return seq(oid("1.2.840.10045.4.3.2"));
  if (alg === "ecdsa-p384") return seq(oid("1.2.840.10045.4.3.3"));
  return seq(oid("1.2.840.113549.1.1.11"), Buffer.from([0x05, 0x00]));
}

export function extension(id: string, value: Buffer, critical = false): Buffer {
  return critical ? seq(oid(id), Buffer.from([0x01, 0x01, 0xff]), tlv(0x04, value)) : seq(oid(id), tlv(0x04, value));
}

/** An ECDSA signature from WebCrypto's r||s form to DER SEQUENCE { r, s }. */
export function ecdsaDer(raw: Buffer): Buffer {
  const half = raw.length / 2;
  return seq(uint(raw.subarray(0, half)), uint(raw.subarray(half)));
}


const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** A Name of single-valued RDNs, each a PrintableString when it can be, else a UTF8String. */
export function name(rdns: [string, string][]): Buffer {
  return seq(
    ...rdns.map(([type, value]) =>
      tlv(0x31, seq(oid(type), tlv(PRINTABLE.test(value) ? 0x13 : 0x0c, Buffer.from(value, "utf8")))),
    ),
  );
}

/** The contents of the subjectPublicKey BIT STRING of a DER SubjectPublicKeyInfo (unused-bits byte dropped). Throws DerError on malformed input. */
export function subjectPublicKeyBits(spki: Uint8Array): Buffer {
  const outer = expectTag(readTlv(spki, 0), 0x30, "SubjectPublicKeyInfo");
  const [, bits] = children(spki, outer);
  return Buffer.from(readBitString(spki, bits!, "subjectPublicKey"));
}

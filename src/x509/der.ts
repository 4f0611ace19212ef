/** Small DER writers for the fixed shapes meshroot encodes itself (intermediates, CRLs). */
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

/** A DER INTEGER from unsigned big-endian bytes (leading zeros dropped, a 0x00 added when the top bit is set). */
export function uint(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const v = bytes.subarray(i);
  return tlv(0x02, v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
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

export const pad = (n: number) => String(n).padStart(2, "0");

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
export const isUtcTime = (d: Date) => d.getUTCFullYear() < 2050;

/** RFC 5280 time: UTCTime through 2049, GeneralizedTime from 2050. */
export function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  const rest = `${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`;
  return isUtcTime(d) ? tlv(0x17, Buffer.from(`${pad(y % 100)}${rest}`, "latin1")) : tlv(0x18, Buffer.from(`${y}${rest}`, "latin1"));
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

/** The contents of the subjectPublicKey BIT STRING of a DER SubjectPublicKeyInfo (unused-bits byte dropped). */
export function subjectPublicKeyBits(spki: Uint8Array): Buffer {
  const buf = Buffer.from(spki);
  let at = 0;
  const header = () => {
    const tag = buf[at++]!;
    let length = buf[at++]!;
    if (length & 0x80) {
      const n = length & 0x7f;
      length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + buf[at++]!;
    }
    return { tag, length };
  };
  header(); // SubjectPublicKeyInfo SEQUENCE
  const alg = header(); // AlgorithmIdentifier
  at += alg.length;
  const bits = header();
  if (bits.tag !== 0x03) throw new Error("not a SubjectPublicKeyInfo");
  return buf.subarray(at + 1, at + bits.length);
}

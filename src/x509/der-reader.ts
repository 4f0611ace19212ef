/**
 * A small, bounds-checked DER reader for the few structures meshroot parses itself on hot paths
 * (PKCS#10 requests). Every length is checked against its enclosing element, so truncated input
 * or absurd lengths throw DerError instead of reading past the end.
 */

export class DerError extends Error {}

/** One element: its tag, where its header starts, and its contents [start, end). */
export interface Tlv {
  tag: number;
  at: number;
  start: number;
  end: number;
}

/** Reads the element at `at`, which must end at or before `limit`. */
export function readTlv(buf: Uint8Array, at: number, limit: number = buf.length): Tlv {
  if (at + 2 > limit) throw new DerError("truncated element header");
  const tag = buf[at]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError("multi-byte tags are not used here");
  let length = buf[at + 1]!;
  let start = at + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0) throw new DerError("indefinite length is not DER");
    if (n > 4) throw new DerError("length too large");
    if (start + n > limit) throw new DerError("truncated length");
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[start + i]!;
    start += n;
  }
  const end = start + length;
  if (end > limit) throw new DerError("element runs past its container");
  return { tag, at, start, end };
}

/** The elements inside a constructed element, which must fill it exactly. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const t = readTlv(buf, at, parent.end);
    out.push(t);
    at = t.end;
  }
  return out;
}

/** Throws unless `t` has tag `tag`; returns it. */
export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}`);
  return t;
}

/** An OBJECT IDENTIFIER element in dotted form. */
export function readOid(buf: Uint8Array, t: Tlv): string {
  expectTag(t, 0x06, "OBJECT IDENTIFIER");
  if (t.end === t.start) throw new DerError("empty OBJECT IDENTIFIER");
  const arcs: number[] = [];
  let v = 0;
  for (let i = t.start; i < t.end; i++) {
    const b = buf[i]!;
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) throw new DerError("OBJECT IDENTIFIER arc too large");
    if (!(b & 0x80)) {
      if (arcs.length === 0) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else arcs.push(v);
      v = 0;
    } else if (i === t.end - 1) throw new DerError("truncated OBJECT IDENTIFIER");
  }
  return arcs.join(".");
}

/** The contents of a BIT STRING with no unused bits. */
export function readBitString(buf: Uint8Array, t: Tlv, what: string): Uint8Array {
  expectTag(t, 0x03, what);
  if (t.end === t.start || buf[t.start] !== 0) throw new DerError(`${what}: BIT STRING with unused bits`);
  return buf.subarray(t.start + 1, t.end);
}

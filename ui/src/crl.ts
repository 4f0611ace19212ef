// Reads the dates of a DER CRL (RFC 5280 CertificateList) for the freshness view: thisUpdate,
// nextUpdate and the number of revoked entries. Nothing is verified here; meshroot signed it.

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function tlv(b: Uint8Array, at: number): Tlv {
  const tag = b[at]!;
  let len = b[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[start + i]!;
    start += n;
  }
  if (start + len > b.length) throw new Error("truncated DER");
  return { tag, start, end: start + len };
}

function time(b: Uint8Array, t: Tlv): string {
  const s = new TextDecoder().decode(b.subarray(t.start, t.end));
  const full = t.tag === 0x17 ? `${Number(s.slice(0, 2)) < 50 ? "20" : "19"}${s}` : s;
  return `${full.slice(0, 4)}-${full.slice(4, 6)}-${full.slice(6, 8)}T${full.slice(8, 10)}:${full.slice(10, 12)}:${full.slice(12, 14)}Z`;
}

export interface CrlInfo {
  thisUpdate: string;
  nextUpdate: string | null;
  revokedCount: number;
}

/** The dates and entry count of a DER CRL; throws on anything that is not one. */
export function crlInfo(der: Uint8Array): CrlInfo {
  const list = tlv(der, 0);
  const tbs = tlv(der, list.start);
  let at = tbs.start;
  let field = tlv(der, at);
  if (field.tag === 0x02) field = tlv(der, (at = field.end)); // version
  field = tlv(der, (at = field.end)); // issuer (after the signature algorithm)
  const thisUpdate = tlv(der, (at = field.end));
  at = thisUpdate.end;
  let nextUpdate: string | null = null;
  let revokedCount = 0;
  if (at < tbs.end) {
    let next = tlv(der, at);
    if (next.tag === 0x17 || next.tag === 0x18) {
      nextUpdate = time(der, next);
      at = next.end;
      next = at < tbs.end ? tlv(der, at) : next;
    }
    if (at < tbs.end && next.tag === 0x30) {
      for (let p = next.start; p < next.end; p = tlv(der, p).end) revokedCount += 1;
    }
  }
  return { thisUpdate: time(der, thisUpdate), nextUpdate, revokedCount };
}

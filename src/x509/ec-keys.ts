/**
 * The DER of P-256 and P-384 keys, written directly: OpenSSL's encoders take 85-160 µs per key
 * (more than generating it), these a few. The bytes are exactly what OpenSSL writes (tests compare
 * them over many keys): SubjectPublicKeyInfo { {id-ecPublicKey, curve}, BIT STRING point } and
 * PKCS#8 { 0, {id-ecPublicKey, curve}, OCTET STRING ECPrivateKey { 1, OCTET STRING d, [1] point } }
 * (RFC 5480, RFC 5915; the curve named once, in the AlgorithmIdentifier).
 */
interface EcDer {
  /** Coordinate (and private scalar) length in bytes. */
  size: number;
  /** OpenSSL's name of the curve (ECDH). */
  openssl: string;
  spkiHead: Buffer;
  pkcs8Head: Buffer;
  /** [1] { BIT STRING header } before the point inside ECPrivateKey. */
  publicKeyHead: Buffer;
}

const hex = (s: string) => Buffer.from(s, "hex");
const CURVES: Record<"P-256" | "P-384", EcDer> = {
  "P-256": {
    size: 32,
    openssl: "prime256v1",
    spkiHead: hex("3059301306072a8648ce3d020106082a8648ce3d030107034200"),
    pkcs8Head: hex("308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420"),
    publicKeyHead: hex("a144034200"),
  },
  "P-384": {
    size: 48,
    openssl: "secp384r1",
    spkiHead: hex("3076301006072a8648ce3d020106052b81040022036200"),
    pkcs8Head: hex("3081b6020100301006072a8648ce3d020106052b8104002204819e30819b0201010430"),
    publicKeyHead: hex("a164036200"),
  },
};

export type EcCurve = keyof typeof CURVES;
/** A curve's coordinate (and private scalar) length in bytes, and OpenSSL's name of it. */
export const ecCurve = (curve: EcCurve): Pick<EcDer, "size" | "openssl"> => CURVES[curve];
export const isEcCurve = (name: string): name is EcCurve => name in CURVES;

/** SubjectPublicKeyInfo of an uncompressed point (04 || X || Y), which the caller has checked is on `curve`. */
export function ecSpki(curve: EcCurve, point: Uint8Array): Uint8Array<ArrayBuffer> {
  const c = CURVES[curve];
  if (point.length !== 1 + 2 * c.size || point[0] !== 0x04) throw new Error(`not an uncompressed ${curve} point`);
  return new Uint8Array(Buffer.concat([c.spkiHead, point]));
}

/** PKCS#8 of a private scalar `d` (fixed length) and its public point. */
export function ecPkcs8(curve: EcCurve, d: Uint8Array, point: Uint8Array): Uint8Array<ArrayBuffer> {
  const c = CURVES[curve];
  if (d.length !== c.size || point.length !== 1 + 2 * c.size || point[0] !== 0x04) throw new Error(`not a ${curve} key`);
  return new Uint8Array(Buffer.concat([c.pkcs8Head, d, c.publicKeyHead, point]));
}

import { DomainError } from "../errors.js";
import { oid, seq, tlv, uint } from "../x509/der.js";
import type { KeyAlgorithm } from "../x509/key-algorithms.js";
import type { Handle, P11, Session } from "./pkcs11-token.js";

/** How a key is found in a token: its CKA_ID and/or CKA_LABEL (both must match when both are given). */
export interface Locator {
  id?: Uint8Array | undefined;
  object?: string | undefined;
}

const EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const RSA_ENCRYPTION = "1.2.840.113549.1.1.1";
const CURVES: Record<string, { oid: string; alg: KeyAlgorithm }> = {
  "ecdsa-p256": { oid: "1.2.840.10045.3.1.7", alg: "ecdsa-p256" },
  "ecdsa-p384": { oid: "1.3.132.0.34", alg: "ecdsa-p384" },
};
/** PKCS#11 v2.40 CKA_PUBLIC_KEY_INFO (a DER SubjectPublicKeyInfo on the private key), when the token has it. */
const CKA_PUBLIC_KEY_INFO = 0x129;

/** The handles of the objects of class `cls` that match `at`. */
export function findObjects(s: Session, lib: P11, cls: number, at: Locator): Handle[] {
  const template: { type: number; value: number | string | Buffer }[] = [{ type: lib.CKA_CLASS, value: cls }];
  if (at.id) template.push({ type: lib.CKA_ID, value: Buffer.from(at.id) });
  if (at.object !== undefined) template.push({ type: lib.CKA_LABEL, value: at.object });
  s.p.C_FindObjectsInit(s.handle, template);
  try {
    return s.p.C_FindObjects(s.handle, 16);
  } finally {
    s.p.C_FindObjectsFinal(s.handle);
  }
}

/**
 * The templates of a root key pair: both token objects; the private key private, sensitive, not
 * extractable, sign only; the public key verify only.
 */
export function keyPairTemplates(lib: P11, alg: KeyAlgorithm, at: Locator) {
  const named = [
    { type: lib.CKA_TOKEN, value: true },
    { type: lib.CKA_ID, value: Buffer.from(at.id!) },
    { type: lib.CKA_LABEL, value: at.object! },
  ];
  const priv = [
    ...named,
    { type: lib.CKA_PRIVATE, value: true },
    { type: lib.CKA_SENSITIVE, value: true },
    { type: lib.CKA_EXTRACTABLE, value: false },
    { type: lib.CKA_SIGN, value: true },
    { type: lib.CKA_DECRYPT, value: false },
    { type: lib.CKA_UNWRAP, value: false },
    { type: lib.CKA_DERIVE, value: false },
  ];
  const curve = CURVES[alg];
  if (curve) {
    const pub = [...named, { type: lib.CKA_PRIVATE, value: false }, { type: lib.CKA_VERIFY, value: true }, { type: lib.CKA_EC_PARAMS, value: oid(curve.oid) }];
    return { mechanism: lib.CKM_EC_KEY_PAIR_GEN, pub, priv };
  }
  const pub = [
    ...named,
    { type: lib.CKA_PRIVATE, value: false },
    { type: lib.CKA_VERIFY, value: true },
    { type: lib.CKA_MODULUS_BITS, value: Number(alg.slice(4)) },
    { type: lib.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
  ];
  return { mechanism: lib.CKM_RSA_PKCS_KEY_PAIR_GEN, pub, priv };
}

/** Throws `unsupported_key_algorithm` when the token cannot generate and sign with a key of `alg`. */
export function requireMechanisms(s: Session, lib: P11, alg: KeyAlgorithm, label: string): void {
  const ec = alg.startsWith("ecdsa");
  const needed = ec ? [lib.CKM_EC_KEY_PAIR_GEN, lib.CKM_ECDSA] : [lib.CKM_RSA_PKCS_KEY_PAIR_GEN, lib.CKM_SHA256_RSA_PKCS];
  const offered = new Set(s.p.C_GetMechanismList(s.slot));
  const refuse = (why: string) => new DomainError("unsupported_key_algorithm", `token ${JSON.stringify(label)} cannot hold a ${alg} root key: ${why}`);
  for (const m of needed) if (!offered.has(m)) throw refuse(`it lacks mechanism 0x${m.toString(16)}`);
  const info = s.p.C_GetMechanismInfo(s.slot, needed[0]!);
  const bits = ec ? (alg === "ecdsa-p256" ? 256 : 384) : Number(alg.slice(4));
  if ((info.minKeySize && bits < info.minKeySize) || (info.maxKeySize && bits > info.maxKeySize)) {
    throw refuse(`its key sizes are ${info.minKeySize}-${info.maxKeySize} bits`);
  }
}

/** The meshroot key algorithm of a private key object; throws `unsupported_key_algorithm`. */
export function keyAlgorithmOfObject(s: Session, lib: P11, handle: Handle): KeyAlgorithm {
  const [type] = s.p.C_GetAttributeValue(s.handle, handle, [{ type: lib.CKA_KEY_TYPE }]).map((a) => a.value);
  const keyType = type ? type.readUIntLE(0, Math.min(type.length, 6)) : -1;
  if (keyType === lib.CKK_EC) {
    const [params] = s.p.C_GetAttributeValue(s.handle, handle, [{ type: lib.CKA_EC_PARAMS }]).map((a) => a.value);
    for (const c of Object.values(CURVES)) if (params && oid(c.oid).equals(params)) return c.alg;
    throw new DomainError("unsupported_key_algorithm", "the token key is on an EC curve other than P-256 and P-384");
  }
  if (keyType === lib.CKK_RSA) {
    const [modulus] = s.p.C_GetAttributeValue(s.handle, handle, [{ type: lib.CKA_MODULUS }]).map((a) => a.value);
    const bits = modulus ? significantBits(modulus) : 0;
    if (bits === 2048 || bits === 3072 || bits === 4096) return `rsa-${bits}` as KeyAlgorithm;
    throw new DomainError("unsupported_key_algorithm", `the token key is RSA of ${bits} bits; supported: 2048, 3072, 4096`);
  }
  throw new DomainError("unsupported_key_algorithm", `the token key is of PKCS#11 key type ${keyType}; supported: EC (P-256, P-384) and RSA`);
}

function significantBits(b: Buffer): number {
  let i = 0;
  while (i < b.length && b[i] === 0) i++;
  return i === b.length ? 0 : (b.length - i - 1) * 8 + (32 - Math.clz32(b[i]!));
}

/**
 * The DER SubjectPublicKeyInfo of a private key: from its public key object (same CKA_ID), or from
 * CKA_PUBLIC_KEY_INFO on the private key where the token keeps it. Throws `key_unavailable`.
 */
export function spkiOfPublicKey(s: Session, lib: P11, privateKey: Handle, at: Locator, publicKey?: Handle): Uint8Array {
  const pub = publicKey ?? (at.id ? findObjects(s, lib, lib.CKO_PUBLIC_KEY, { id: at.id }) : findObjects(s, lib, lib.CKO_PUBLIC_KEY, at))[0];
  if (pub) {
    const [type] = s.p.C_GetAttributeValue(s.handle, pub, [{ type: lib.CKA_KEY_TYPE }]).map((a) => a.value);
    const keyType = type ? type.readUIntLE(0, Math.min(type.length, 6)) : -1;
    if (keyType === lib.CKK_EC) {
      const [params, point] = s.p.C_GetAttributeValue(s.handle, pub, [{ type: lib.CKA_EC_PARAMS }, { type: lib.CKA_EC_POINT }]).map((a) => a.value);
      if (!params || !point) throw new DomainError("key_unavailable", "the token's EC public key has no CKA_EC_PARAMS or CKA_EC_POINT");
      // CKA_EC_POINT is a DER OCTET STRING around the point (most tokens) or the bare point.
      const raw = point[0] === 0x04 && point[1] === point.length - 2 ? point.subarray(2) : point;
      return new Uint8Array(seq(seq(oid(EC_PUBLIC_KEY), params), tlv(0x03, Buffer.concat([Buffer.from([0]), raw]))));
    }
    const [modulus, exponent] = s.p.C_GetAttributeValue(s.handle, pub, [{ type: lib.CKA_MODULUS }, { type: lib.CKA_PUBLIC_EXPONENT }]).map((a) => a.value);
    if (!modulus || !exponent) throw new DomainError("key_unavailable", "the token's RSA public key has no CKA_MODULUS or CKA_PUBLIC_EXPONENT");
    return new Uint8Array(seq(seq(oid(RSA_ENCRYPTION), Buffer.from([5, 0])), tlv(0x03, Buffer.concat([Buffer.from([0]), seq(uint(modulus), uint(exponent))]))));
  }
  try {
    const [info] = s.p.C_GetAttributeValue(s.handle, privateKey, [{ type: CKA_PUBLIC_KEY_INFO }]).map((a) => a.value);
    if (info && info.length > 0) return new Uint8Array(info);
  } catch {
    /* not kept by this token */
  }
  throw new DomainError(
    "key_unavailable",
    "the token holds no public key object with the private key's CKA_ID (and no CKA_PUBLIC_KEY_INFO): write the certificate's public key into the token with the same id (pkcs11-tool --write-object pub.der --type pubkey --id …)",
  );
}

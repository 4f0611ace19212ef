import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { DomainError } from "../errors.js";
import { children, DerError, expectTag, readBitString, readOid, readTlv, type Tlv } from "./der-reader.js";
import { ecSpki, type EcCurve } from "./ec-keys.js";
import { keyAlgorithmOf, type KeyAlgorithm } from "./key-algorithms.js";
import { parseSinglePem } from "./pem.js";

export interface VerifiedCsr {
  /** DER SubjectPublicKeyInfo of the requested key, re-encoded from the parsed key (never the CSR's bytes). */
  spki: Uint8Array;
  keyAlgorithm: KeyAlgorithm;
}

const EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const RSA_ENCRYPTION = "1.2.840.113549.1.1.1";
/** Named curves by OID; `size` (coordinate bytes) only for the ones meshroot issues for. */
const CURVES: Record<string, { name: string; size?: number }> = {
  "1.2.840.10045.3.1.7": { name: "P-256", size: 32 },
  "1.3.132.0.34": { name: "P-384", size: 48 },
  "1.3.132.0.35": { name: "P-521" },
};
/** Signature algorithms accepted on a CSR: ECDSA or RSA PKCS#1 v1.5 with SHA-2. */
const SIGNATURES: Record<string, { family: "ec" | "rsa"; hash: string }> = {
  "1.2.840.10045.4.3.2": { family: "ec", hash: "sha256" },
  "1.2.840.10045.4.3.3": { family: "ec", hash: "sha384" },
  "1.2.840.10045.4.3.4": { family: "ec", hash: "sha512" },
  "1.2.840.113549.1.1.11": { family: "rsa", hash: "sha256" },
  "1.2.840.113549.1.1.12": { family: "rsa", hash: "sha384" },
  "1.2.840.113549.1.1.13": { family: "rsa", hash: "sha512" },
};

interface ParsedCsr {
  /** The signed bytes: the whole CertificationRequestInfo element. */
  info: Uint8Array;
  keyOid: string;
  /** The AlgorithmIdentifier's parameters as they are: a named curve's OID, NULL, or anything else. */
  keyParams: { tag: number; oid: string | null; length: number } | undefined;
  /** Elements of the key's AlgorithmIdentifier after the parameters (there must be none). */
  keyAlgExtra: number;
  publicKeyBits: Uint8Array;
  signatureOid: string;
  signature: Uint8Array;
}

/**
 * Reads PKCS#10 (RFC 2986): CertificationRequest ::= SEQUENCE { certificationRequestInfo,
 * signatureAlgorithm, signature BIT STRING }, with certificationRequestInfo ::= SEQUENCE {
 * version 0, subject Name, subjectPKInfo, attributes [0] }. Throws DerError on any other shape.
 */
function parseCsr(der: Uint8Array): ParsedCsr {
  const top = expectTag(readTlv(der, 0), 0x30, "CertificationRequest");
  if (top.end !== der.length) throw new DerError("trailing bytes after the CertificationRequest");
  const [info, sigAlg, sigBits, ...extra] = children(der, top);
  if (extra.length) throw new DerError("CertificationRequest has extra elements");
  expectTag(info, 0x30, "certificationRequestInfo");
  const [version, subject, spki, attributes, ...more] = children(der, info!);
  const v = expectTag(version, 0x02, "version");
  if (v.end - v.start !== 1 || der[v.start] !== 0) throw new DerError("version is not 0 (v1)");
  expectTag(subject, 0x30, "subject");
  expectTag(spki, 0x30, "subjectPKInfo");
  if (attributes && attributes.tag !== 0xa0) throw new DerError("attributes: expected [0]");
  if (more.length) throw new DerError("certificationRequestInfo has extra elements");
  const [keyAlg, keyBits, ...spkiMore] = children(der, spki!);
  if (spkiMore.length) throw new DerError("subjectPKInfo has extra elements");
  const [keyOid, keyParams, ...keyAlgExtra] = children(der, expectTag(keyAlg, 0x30, "key AlgorithmIdentifier"));
  const [sigOid] = children(der, expectTag(sigAlg, 0x30, "signatureAlgorithm"));
  return {
    info: der.subarray(info!.at, info!.end),
    keyOid: readOid(der, keyOid!),
    keyParams: keyParams && { tag: keyParams.tag, oid: keyParams.tag === 0x06 ? readOid(der, keyParams) : null, length: keyParams.end - keyParams.start },
    keyAlgExtra: keyAlgExtra.length,
    publicKeyBits: readBitString(der, keyBits!, "subjectPublicKey"),
    signatureOid: readOid(der, sigOid!),
    signature: readBitString(der, sigBits!, "signature"),
  };
}

/** A signature check, in this thread: handing a ~60 µs ECDSA verification to the thread pool costs more than it saves. */
function verifies(hash: string, data: Uint8Array, key: KeyObject, signature: Uint8Array): boolean {
  try {
    return verify(hash, data, key, signature);
  } catch {
    return false;
  }
}

const invalid = (why: string) => new DomainError("invalid_csr", `csrPem: ${why}`);
const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");

/**
 * The EC key of a CSR: exactly {id-ecPublicKey, namedCurve} and an uncompressed point, which
 * JWK import checks is on the curve. Anything else is refused rather than copied: OpenSSL cannot
 * load extra identifier bytes, Go cannot parse a compressed point.
 */
function ecKeyOf(csr: ParsedCsr): { key: KeyObject; keyAlgorithm: KeyAlgorithm; spki: Uint8Array } {
  const curve = csr.keyParams?.oid ? CURVES[csr.keyParams.oid] : undefined;
  const curveName = curve?.name ?? csr.keyParams?.oid ?? "(explicit or missing parameters)";
  const keyAlgorithm = keyAlgorithmOf({ name: "ECDSA", namedCurve: curveName } as EcKeyAlgorithm, "the CSR");
  if (csr.keyAlgExtra) throw invalid("the EC key's AlgorithmIdentifier has extra elements; expected exactly {id-ecPublicKey, namedCurve}");
  const size = curve!.size!;
  const bits = csr.publicKeyBits;
  if (bits.length !== 1 + 2 * size || bits[0] !== 0x04) throw invalid("the EC public key is not an uncompressed point (04 || X || Y)");
  try {
    const key = createPublicKey({ key: { kty: "EC", crv: curve!.name, x: b64url(bits.subarray(1, 1 + size)), y: b64url(bits.subarray(1 + size)) }, format: "jwk" });
    // The point is on the curve (JWK import checks it): its SPKI is written directly, byte for
    // byte what exporting the key gives, without OpenSSL's encoder (~0.1 ms).
    return { key, keyAlgorithm, spki: ecSpki(curve!.name as EcCurve, bits) };
  } catch {
    throw invalid(`the EC public key is not a point on ${curve!.name}`);
  }
}

/** Primes below 1000: an RSA modulus divisible by one is no RSA modulus (trial division is cheap). */
const SMALL_PRIMES: bigint[] = [];
for (let n = 2; n < 1000; n++) if (SMALL_PRIMES.every((p) => BigInt(n) % p !== 0n)) SMALL_PRIMES.push(BigInt(n));

/** A positive, minimally encoded DER INTEGER's magnitude (no sign byte), or a DerError. */
function readPositiveInteger(der: Uint8Array, t: Tlv | undefined, what: string): Uint8Array {
  expectTag(t, 0x02, what);
  const v = der.subarray(t!.start, t!.end);
  if (v.length === 0 || v[0]! & 0x80) throw new DerError(`${what} is not a positive INTEGER`);
  if (v.length > 1 && v[0] === 0 && !(v[1]! & 0x80)) throw new DerError(`${what} is not minimally encoded`);
  return v[0] === 0 ? v.subarray(1) : v;
}

/**
 * The RSA key of a CSR: rsaEncryption (NULL or no parameters), RSAPublicKey { n, e } with
 * e = 65537 (e = 1 lets anyone forge signatures) and an odd modulus with no prime factor below
 * 1000. Its size names the key algorithm, which issuance compares with the policy.
 */
function rsaKeyOf(csr: ParsedCsr): { key: KeyObject; keyAlgorithm: KeyAlgorithm } {
  const p = csr.keyParams;
  if (csr.keyAlgExtra || (p && !(p.tag === 0x05 && p.length === 0))) throw invalid("the RSA key's AlgorithmIdentifier must be exactly {rsaEncryption, NULL}");
  let n: Uint8Array;
  let e: Uint8Array;
  try {
    const bits = csr.publicKeyBits;
    const top = expectTag(readTlv(bits, 0), 0x30, "RSAPublicKey");
    if (top.end !== bits.length) throw new DerError("trailing bytes after RSAPublicKey");
    const parts = children(bits, top);
    if (parts.length !== 2) throw new DerError("RSAPublicKey must hold exactly a modulus and an exponent");
    n = readPositiveInteger(bits, parts[0], "modulus");
    e = readPositiveInteger(bits, parts[1], "publicExponent");
  } catch (err) {
    if (!(err instanceof DerError)) throw err;
    throw invalid(`the RSA public key could not be decoded (${err.message})`);
  }
  const modulus = BigInt(`0x${Buffer.from(n).toString("hex") || "0"}`);
  const modulusLength = modulus.toString(2).length;
  const keyAlgorithm = keyAlgorithmOf({ name: "RSASSA-PKCS1-v1_5", modulusLength } as RsaHashedKeyAlgorithm, "the CSR");
  const exponent = Buffer.from(e).toString("hex");
  if (exponent !== "010001") throw invalid(`the RSA public exponent must be 65537, not ${e.length <= 8 ? BigInt(`0x${exponent}`) : "a longer value"}`);
  const factor = SMALL_PRIMES.find((q) => modulus % q === 0n);
  if (factor !== undefined) throw invalid(`the RSA modulus is divisible by ${factor}${factor === 2n ? " (even)" : ""}: it is not a product of two large primes`);
  try {
    return { key: createPublicKey({ key: { kty: "RSA", n: b64url(n), e: "AQAB" }, format: "jwk" }), keyAlgorithm };
  } catch {
    throw invalid("the RSA public key could not be decoded");
  }
}

/**
 * The public key as a KeyObject, and meshroot's name for its algorithm (keyAlgorithmOf decides
 * what is supported and words the refusal, as for imported roots).
 */
function publicKeyOf(csr: ParsedCsr): { key: KeyObject; keyAlgorithm: KeyAlgorithm; spki?: Uint8Array } {
  if (csr.keyOid === EC_PUBLIC_KEY) return ecKeyOf(csr);
  if (csr.keyOid === RSA_ENCRYPTION) return rsaKeyOf(csr);
  // Any other key type: keyAlgorithmOf refuses it before the key is decoded.
  keyAlgorithmOf({ name: csr.keyOid }, "the CSR"); // throws unsupported_key_algorithm
  throw invalid(`key algorithm ${csr.keyOid} is not supported`);
}

/**
 * Parses a PKCS#10 CSR, checks its signature and key algorithm, and returns only its public
 * key: subject and extensions come from the profile, never from the CSR. The signature is
 * checked off the event loop (libuv thread pool). The key must be canonical and sound (see
 * ecKeyOf, rsaKeyOf); its SPKI is rebuilt. Throws `invalid_pem`, `invalid_csr`,
 * `unsupported_key_algorithm` or `csr_signature_invalid`.
 */
export async function verifyCsr(pem: string): Promise<VerifiedCsr> {
  const block = parseSinglePem(pem, "csrPem", ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"]);
  let csr: ParsedCsr;
  try {
    csr = parseCsr(block.der);
  } catch (err) {
    if (!(err instanceof DerError)) throw err;
    throw new DomainError("invalid_csr", `csrPem: the CERTIFICATE REQUEST could not be decoded as PKCS#10 (${err.message})`);
  }
  let pub: { key: KeyObject; keyAlgorithm: KeyAlgorithm; spki?: Uint8Array };
  try {
    pub = publicKeyOf(csr);
  } catch (err) {
    if (err instanceof DomainError) throw err;
    throw new DomainError("invalid_csr", "csrPem: the CSR's public key could not be decoded");
  }
  const scheme = SIGNATURES[csr.signatureOid];
  if (!scheme) {
    throw new DomainError("csr_signature_invalid", `csrPem: signature algorithm ${csr.signatureOid} is not accepted; sign with ECDSA or RSA PKCS#1 v1.5 and SHA-256, SHA-384 or SHA-512`);
  }
  const keyFamily = pub.keyAlgorithm.startsWith("ecdsa") ? "ec" : "rsa";
  const ok =
    scheme.family === keyFamily &&
    verifies(scheme.hash, csr.info, pub.key, csr.signature);
  if (!ok) throw new DomainError("csr_signature_invalid", "csrPem: the CSR's signature does not verify with its public key");
  // The certificate gets the canonical encoding of the validated key, never the CSR's bytes.
  const spki = pub.spki ?? new Uint8Array(pub.key.export({ type: "spki", format: "der" }));
  return { spki, keyAlgorithm: pub.keyAlgorithm };
}

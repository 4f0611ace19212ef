import { createPublicKey, verify, type KeyObject } from "node:crypto";
import { DomainError } from "../errors.js";
import { children, DerError, expectTag, readBitString, readOid, readTlv } from "./der-reader.js";
import { keyAlgorithmOf, type KeyAlgorithm } from "./key-algorithms.js";
import { parseSinglePem } from "./pem.js";

export interface VerifiedCsr {
  /** DER SubjectPublicKeyInfo of the requested key, as the CSR holds it. */
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
  spki: Uint8Array;
  keyOid: string;
  keyParams: string | null;
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
  const [keyOid, keyParams] = children(der, expectTag(keyAlg, 0x30, "key AlgorithmIdentifier"));
  const [sigOid] = children(der, expectTag(sigAlg, 0x30, "signatureAlgorithm"));
  return {
    info: der.subarray(info!.at, info!.end),
    spki: der.subarray(spki!.at, spki!.end),
    keyOid: readOid(der, keyOid!),
    keyParams: keyParams?.tag === 0x06 ? readOid(der, keyParams) : null,
    publicKeyBits: readBitString(der, keyBits!, "subjectPublicKey"),
    signatureOid: readOid(der, sigOid!),
    signature: readBitString(der, sigBits!, "signature"),
  };
}

/**
 * The public key as a KeyObject, and meshroot's name for its algorithm (keyAlgorithmOf decides
 * what is supported and words the refusal, as for imported roots).
 */
function publicKeyOf(csr: ParsedCsr): { key: KeyObject; keyAlgorithm: KeyAlgorithm } {
  const fromSpki = () => createPublicKey({ key: Buffer.from(csr.spki), format: "der", type: "spki" });
  if (csr.keyOid === EC_PUBLIC_KEY) {
    const curve = CURVES[csr.keyParams ?? ""];
    const keyAlgorithm = keyAlgorithmOf({ name: "ECDSA", namedCurve: curve?.name ?? csr.keyParams ?? "(explicit parameters)" } as EcKeyAlgorithm, "the CSR");
    const bits = csr.publicKeyBits;
    const size = curve!.size!;
    // An uncompressed point imports faster as JWK than the SPKI goes through OpenSSL's decoder.
    const key =
      bits.length === 1 + 2 * size && bits[0] === 0x04
        ? createPublicKey({
            key: { kty: "EC", crv: curve!.name, x: Buffer.from(bits.subarray(1, 1 + size)).toString("base64url"), y: Buffer.from(bits.subarray(1 + size)).toString("base64url") },
            format: "jwk",
          })
        : fromSpki();
    return { key, keyAlgorithm };
  }
  if (csr.keyOid === RSA_ENCRYPTION) {
    const key = fromSpki();
    const algorithm = { name: "RSASSA-PKCS1-v1_5", modulusLength: key.asymmetricKeyDetails?.modulusLength } as RsaHashedKeyAlgorithm;
    return { key, keyAlgorithm: keyAlgorithmOf(algorithm, "the CSR") };
  }
  // Any other key type: keyAlgorithmOf refuses it before the key is decoded.
  const keyAlgorithm = keyAlgorithmOf({ name: csr.keyOid }, "the CSR");
  return { key: fromSpki(), keyAlgorithm };
}

/**
 * Parses a PKCS#10 CSR, checks its signature and key algorithm, and returns only its public
 * key: subject and extensions come from the profile, never from the CSR. The signature is
 * checked off the event loop (libuv thread pool). Throws `invalid_pem`, `invalid_csr`,
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
  let pub: { key: KeyObject; keyAlgorithm: KeyAlgorithm };
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
    (await new Promise<boolean>((resolve) => verify(scheme.hash, csr.info, pub.key, csr.signature, (err, valid) => resolve(!err && valid))));
  if (!ok) throw new DomainError("csr_signature_invalid", "csrPem: the CSR's signature does not verify with its public key");
  return { spki: csr.spki, keyAlgorithm: pub.keyAlgorithm };
}

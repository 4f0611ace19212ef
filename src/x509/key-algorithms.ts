import { DomainError } from "../errors.js";

export const KEY_ALGORITHMS = ["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096"] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

export const DEFAULT_KEY_ALGORITHM: KeyAlgorithm = "ecdsa-p256";

type GenParams = EcKeyGenParams | RsaHashedKeyGenParams;
type ImportParams = EcKeyImportParams | RsaHashedImportParams;

const RSA_EXPONENT = new Uint8Array([1, 0, 1]);

/** WebCrypto parameters to generate a key pair of the given algorithm. */
export function keyGenParams(alg: KeyAlgorithm): GenParams {
  switch (alg) {
    case "ecdsa-p256":
      return { name: "ECDSA", namedCurve: "P-256" };
    case "ecdsa-p384":
      return { name: "ECDSA", namedCurve: "P-384" };
    default:
      return {
        name: "RSASSA-PKCS1-v1_5",
        modulusLength: Number(alg.slice(4)),
        publicExponent: RSA_EXPONENT,
        hash: "SHA-256",
      };
  }
}

/** WebCrypto parameters to import a key of the given algorithm for signing (those of generation, less the RSA size). */
export function keyImportParams(alg: KeyAlgorithm): ImportParams {
  const params = keyGenParams(alg);
  return "namedCurve" in params ? params : { name: params.name, hash: "SHA-256" };
}

/**
 * The signature algorithm a key of this algorithm signs with: ECDSA with SHA-256 (P-256) or
 * SHA-384 (P-384), RSA PKCS#1 v1.5 with SHA-256. Never SHA-1.
 */
export function signingAlgorithm(alg: KeyAlgorithm): Algorithm | EcdsaParams {
  switch (alg) {
    case "ecdsa-p256":
      return { name: "ECDSA", hash: "SHA-256" } as EcdsaParams;
    case "ecdsa-p384":
      return { name: "ECDSA", hash: "SHA-384" } as EcdsaParams;
    default:
      return { name: "RSASSA-PKCS1-v1_5" };
  }
}

/**
 * Names the meshroot key algorithm of a WebCrypto key algorithm (as parsed from a certificate,
 * CSR or imported key). Throws `unsupported_key_algorithm` for anything outside the supported set.
 */
export function keyAlgorithmOf(algorithm: Algorithm, what: string): KeyAlgorithm {
  const a = algorithm as Partial<EcKeyAlgorithm & RsaHashedKeyAlgorithm>;
  if (a.name === "ECDSA" || a.name === "ECDH") {
    if (a.namedCurve === "P-256") return "ecdsa-p256";
    if (a.namedCurve === "P-384") return "ecdsa-p384";
    throw new DomainError(
      "unsupported_key_algorithm",
      `${what} uses EC curve ${a.namedCurve ?? "unknown"}; supported: P-256, P-384`,
    );
  }
  if (a.name === "RSASSA-PKCS1-v1_5" || a.name === "RSA-PSS" || a.name === "RSA-OAEP") {
    const bits = a.modulusLength;
    if (bits === 2048 || bits === 3072 || bits === 4096) return `rsa-${bits}` as KeyAlgorithm;
    throw new DomainError(
      "unsupported_key_algorithm",
      `${what} uses an RSA key of ${bits ?? "unknown"} bits; supported: 2048, 3072, 4096`,
    );
  }
  throw new DomainError(
    "unsupported_key_algorithm",
    `${what} uses key algorithm ${a.name ?? "unknown"}; supported: ${KEY_ALGORITHMS.join(", ")}`,
  );
}

import { createPrivateKey, sign as nodeSign, type KeyObject } from "node:crypto";
import type { KeyAlgorithm } from "./key-algorithms.js";

/**
 * Something that signs as an issuer: the seam between the encoders (which build the bytes to be
 * signed) and key custody (which holds the key, in memory, sealed or in an HSM). An encoder only
 * ever sees a Signer, never a key.
 */
export interface Signer {
  readonly keyAlgorithm: KeyAlgorithm;
  /** DER SubjectPublicKeyInfo of the signing key. */
  readonly spki: Uint8Array;
  /** The X.509 signatureValue over `data`: DER Ecdsa-Sig-Value for ECDSA, PKCS#1 v1.5 for RSA. */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/**
 * A Signer over a PKCS#8 DER private key, held as a node:crypto KeyObject (see keyObjectSigner).
 * Throws when the key is not of `keyAlgorithm` (type, curve, modulus size), as WebCrypto's import
 * did: a signature must never come from a key other than the one the certificate names.
 */
export function pkcs8Signer(pkcs8: Uint8Array, keyAlgorithm: KeyAlgorithm, spki: Uint8Array): Signer {
  const key = createPrivateKey({ key: Buffer.from(pkcs8), format: "der", type: "pkcs8" });
  const details = key.asymmetricKeyDetails;
  const matches = keyAlgorithm.startsWith("ecdsa")
    ? key.asymmetricKeyType === "ec" && details?.namedCurve === (keyAlgorithm === "ecdsa-p384" ? "secp384r1" : "prime256v1")
    : key.asymmetricKeyType === "rsa" && details?.modulusLength === Number(keyAlgorithm.slice("rsa-".length));
  if (!matches) throw new Error(`the private key is not ${keyAlgorithm} (${key.asymmetricKeyType} ${details?.namedCurve ?? details?.modulusLength ?? ""})`);
  return keyObjectSigner(key, keyAlgorithm, spki);
}

/**
 * A Signer over a node:crypto private KeyObject; ECDSA signatures come out DER-encoded. An ECDSA
 * signature (~30 µs) is made in this thread: handing it to the libuv thread pool, or going
 * through WebCrypto, costs the event loop more than the signature itself. An RSA one (1 to 7 ms)
 * goes to the thread pool.
 */
export function keyObjectSigner(privateKey: KeyObject, keyAlgorithm: KeyAlgorithm, spki: Uint8Array): Signer {
  const hash = keyAlgorithm === "ecdsa-p384" ? "sha384" : "sha256";
  if (keyAlgorithm.startsWith("ecdsa")) {
    return {
      keyAlgorithm,
      spki,
      sign: async (data) => new Uint8Array(nodeSign(hash, data, { key: privateKey, dsaEncoding: "der" })),
    };
  }
  return {
    keyAlgorithm,
    spki,
    sign: (data) =>
      new Promise((resolve, reject) =>
        nodeSign(hash, data, { key: privateKey, dsaEncoding: "der" }, (err, signature) => (err ? reject(err) : resolve(new Uint8Array(signature)))),
      ),
  };
}

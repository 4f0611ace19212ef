import { sign as nodeSign, type KeyObject } from "node:crypto";
import { ecdsaDer } from "./der.js";
import { keyImportParams, signingAlgorithm, type KeyAlgorithm } from "./key-algorithms.js";

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

/** A Signer over a WebCrypto private key (the key stays a non-extractable CryptoKey when imported so). */
export function cryptoKeySigner(crypto: Crypto, privateKey: CryptoKey, keyAlgorithm: KeyAlgorithm, spki: Uint8Array): Signer {
  const algorithm = signingAlgorithm(keyAlgorithm);
  const ecdsa = keyAlgorithm.startsWith("ecdsa");
  return {
    keyAlgorithm,
    spki,
    async sign(data) {
      const raw = Buffer.from(await crypto.subtle.sign(algorithm, privateKey, data as Uint8Array<ArrayBuffer>));
      return ecdsa ? ecdsaDer(raw) : raw;
    },
  };
}

/** Imports a PKCS#8 DER private key (not extractable) and returns its Signer. */
export async function pkcs8Signer(crypto: Crypto, pkcs8: Uint8Array<ArrayBuffer>, keyAlgorithm: KeyAlgorithm, spki: Uint8Array): Promise<Signer> {
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, keyImportParams(keyAlgorithm), false, ["sign"]);
  return cryptoKeySigner(crypto, key, keyAlgorithm, spki);
}

/** A Signer over a node:crypto private KeyObject (signing in the libuv thread pool): ECDSA signatures come out DER-encoded. */
export function keyObjectSigner(privateKey: KeyObject, keyAlgorithm: KeyAlgorithm, spki: Uint8Array): Signer {
  const hash = keyAlgorithm === "ecdsa-p384" ? "sha384" : "sha256";
  return {
    keyAlgorithm,
    spki,
    sign: (data) =>
      new Promise((resolve, reject) =>
        nodeSign(hash, data, { key: privateKey, dsaEncoding: "der" }, (err, signature) => (err ? reject(err) : resolve(new Uint8Array(signature)))),
      ),
  };
}

import { createECDH, createPrivateKey, createPublicKey, generateKeyPair as nodeGenerateKeyPair, type KeyObject } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { DomainError } from "../errors.js";
import { ecCurve, ecPkcs8, ecSpki, isEcCurve } from "./ec-keys.js";
import { keyAlgorithmOf, keyGenParams, type KeyAlgorithm } from "./key-algorithms.js";
import { parseSinglePem, toPem } from "./pem.js";

/**
 * Generates a key pair of `alg` (the parameters of WebCrypto generation, keyGenParams) and returns
 * it encoded, SubjectPublicKeyInfo and PKCS#8 DER, with the private key as a KeyObject too: a
 * signer that needs no import of the encoded key (an intermediate's first CRL is signed with it).
 * An EC key (~70 µs) is generated in this thread as a raw scalar and point (ECDH) and encoded
 * directly (ec-keys.ts: OpenSSL's DER encoders cost three times the generation); its KeyObject is
 * imported from the JWK. Not generateKeyPairSync and then export: on Node 20 a garbage
 * collection during the export of a key just generated can finalise the generation job, whose
 * destructor waits for the mutex the export holds, and the thread never wakes (seen here under
 * load; test/x509/ec-keys.test.ts reproduces it). An RSA key is generated in the libuv thread
 * pool and exported in the callback, while its job is still alive.
 */
export function generateKeyPairDer(alg: KeyAlgorithm): Promise<{ spki: Uint8Array<ArrayBuffer>; pkcs8: Uint8Array<ArrayBuffer>; privateKey: KeyObject }> {
  const params = keyGenParams(alg);
  if ("namedCurve" in params) {
    try {
      const curve = params.namedCurve;
      if (!isEcCurve(curve)) throw new Error(`no DER encoding for ${curve}`);
      const { size, openssl } = ecCurve(curve);
      const ecdh = createECDH(openssl);
      const point = ecdh.generateKeys();
      // The scalar comes without leading zero bytes; PKCS#8 and JWK carry it at the curve's size.
      const raw = ecdh.getPrivateKey();
      const d = Buffer.alloc(size);
      raw.copy(d, size - raw.length);
      const privateKey = createPrivateKey({
        key: { kty: "EC", crv: curve, x: point.subarray(1, 1 + size).toString("base64url"), y: point.subarray(1 + size).toString("base64url"), d: d.toString("base64url") },
        format: "jwk",
      });
      return Promise.resolve({ spki: ecSpki(curve, point), pkcs8: ecPkcs8(curve, d, point), privateKey });
    } catch (err) {
      return Promise.reject(err);
    }
  }
  return new Promise((resolve, reject) =>
    nodeGenerateKeyPair("rsa", { modulusLength: params.modulusLength, publicExponent: Buffer.from(params.publicExponent).readUIntBE(0, params.publicExponent.length) }, (err, publicKey, privateKey) =>
      err
        ? reject(err)
        : resolve({
            spki: new Uint8Array(publicKey.export({ type: "spki", format: "der" })),
            pkcs8: new Uint8Array(privateKey.export({ type: "pkcs8", format: "der" })),
            privateKey,
          }),
    ),
  );
}

/** DER SubjectPublicKeyInfo of the public half of a PKCS#8 DER private key. */
export function spkiOfPkcs8(pkcs8: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(createPublicKey(createPrivateKey({ key: Buffer.from(pkcs8), format: "der", type: "pkcs8" })).export({ format: "der", type: "spki" }));
}

/** PEM `PRIVATE KEY` (PKCS#8) of a DER key: the form istiod and openssl read. */
export function pkcs8Pem(der: Uint8Array): string {
  return toPem(der, "PRIVATE KEY");
}

export interface ParsedPrivateKey {
  pkcs8: Uint8Array<ArrayBuffer>;
  algorithm: KeyAlgorithm;
  /** DER SubjectPublicKeyInfo of the matching public key. */
  spki: Uint8Array<ArrayBuffer>;
}

/**
 * Reads a private key in PEM `PRIVATE KEY` (PKCS#8), `EC PRIVATE KEY` (SEC1) or
 * `RSA PRIVATE KEY` (PKCS#1) form. Throws `invalid_pem` for anything else (including encrypted
 * keys) and `unsupported_key_algorithm` for keys outside the supported set.
 */
export function parsePrivateKeyPem(pem: string, field: string): ParsedPrivateKey {
  const block = parseSinglePem(pem, field, ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"]);
  let key;
  try {
    const type = block.label === "PRIVATE KEY" ? "pkcs8" : block.label === "EC PRIVATE KEY" ? "sec1" : "pkcs1";
    key = createPrivateKey({ key: Buffer.from(block.der), format: "der", type });
  } catch {
    throw new DomainError("invalid_pem", `${field}: the ${block.label} could not be decoded`);
  }
  const spki = new Uint8Array(createPublicKey(key).export({ format: "der", type: "spki" }));
  const algorithm = keyAlgorithmOf(new x509.PublicKey(spki).algorithm, field);
  const pkcs8 = new Uint8Array(key.export({ format: "der", type: "pkcs8" }));
  return { pkcs8, algorithm, spki };
}

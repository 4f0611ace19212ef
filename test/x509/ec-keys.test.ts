import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ecPkcs8, ecSpki, jwkPoint } from "../../src/x509/ec-keys.js";
import { generateKeyPairDer } from "../../src/x509/private-keys.js";
import { pkcs8Signer } from "../../src/x509/signer.js";

// The EC key encodings written directly must be OpenSSL's, byte for byte: 300 keys per curve
// cover scalars and coordinates with leading zero bytes (about one in 128 each).
describe("EC key DER", () => {
  for (const curve of ["P-256", "P-384"] as const) {
    it(`${curve}: SubjectPublicKeyInfo and PKCS#8 equal OpenSSL's encodings`, () => {
      for (let i = 0; i < 300; i++) {
        const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: curve });
        const jwk = privateKey.export({ format: "jwk" });
        const point = jwkPoint(jwk.x!, jwk.y!);
        expect(Buffer.from(ecSpki(curve, point))).toEqual(publicKey.export({ type: "spki", format: "der" }));
        expect(Buffer.from(ecPkcs8(curve, Buffer.from(jwk.d!, "base64url"), point))).toEqual(privateKey.export({ type: "pkcs8", format: "der" }));
      }
    });
  }

  it("refuses a compressed point or a scalar of the wrong length", () => {
    const jwk = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ format: "jwk" });
    const point = jwkPoint(jwk.x!, jwk.y!);
    expect(() => ecSpki("P-256", Buffer.concat([Buffer.from([2]), point.subarray(1, 33)]))).toThrow(/uncompressed/);
    expect(() => ecSpki("P-384", point)).toThrow();
    expect(() => ecPkcs8("P-256", Buffer.alloc(31), point)).toThrow();
  });

  it("generateKeyPairDer: the encodings load in OpenSSL as one key pair, and the KeyObject is its private key", async () => {
    for (const alg of ["ecdsa-p256", "ecdsa-p384"] as const) {
      const { spki, pkcs8, privateKey } = await generateKeyPairDer(alg);
      const pub = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
      const priv = createPrivateKey({ key: Buffer.from(pkcs8), format: "der", type: "pkcs8" });
      const data = Buffer.from("meshroot");
      expect(verify(null, data, pub, sign(null, data, priv))).toBe(true);
      expect(verify(null, data, pub, sign(null, data, privateKey))).toBe(true);
      expect(Buffer.from(pkcs8)).toEqual(privateKey.export({ type: "pkcs8", format: "der" }));
    }
  });
});

describe("pkcs8Signer", () => {
  it("refuses a key of another algorithm than the one named (curve, type, modulus size)", async () => {
    const { pkcs8, spki } = await generateKeyPairDer("ecdsa-p256");
    expect(() => pkcs8Signer(pkcs8, "ecdsa-p384", spki)).toThrow(/not ecdsa-p384/);
    expect(() => pkcs8Signer(pkcs8, "rsa-2048", spki)).toThrow(/not rsa-2048/);
    const signer = pkcs8Signer(pkcs8, "ecdsa-p256", spki);
    const data = Buffer.from("meshroot");
    expect(verify("sha256", data, createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" }), await signer.sign(data))).toBe(true);
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const rsaPkcs8 = new Uint8Array(rsa.privateKey.export({ type: "pkcs8", format: "der" }));
    expect(() => pkcs8Signer(rsaPkcs8, "rsa-3072", spki)).toThrow(/not rsa-3072/);
    expect(() => pkcs8Signer(rsaPkcs8, "ecdsa-p256", spki)).toThrow(/not ecdsa-p256/);
  });
});

import { spawnSync } from "node:child_process";
import { createECDH, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { ecPkcs8, ecSpki } from "../../src/x509/ec-keys.js";
import { generateKeyPairDer } from "../../src/x509/private-keys.js";
import { pkcs8Signer } from "../../src/x509/signer.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

// The EC key encodings written directly must be OpenSSL's, byte for byte: 300 keys per curve
// cover scalars and coordinates with leading zero bytes (about one in 256 each, so most runs see
// several). OpenSSL's side exports a key imported from the same scalar and point: a key fresh
// from generateKeyPairSync must not be exported (see generateKeyPairDer, and the last test).
describe("EC key DER", () => {
  for (const curve of ["P-256", "P-384"] as const) {
    it(`${curve}: generateKeyPairDer's SubjectPublicKeyInfo and PKCS#8 equal OpenSSL's encodings of its key`, async () => {
      for (let i = 0; i < 300; i++) {
        const { spki, pkcs8, privateKey } = await generateKeyPairDer(curve === "P-256" ? "ecdsa-p256" : "ecdsa-p384");
        expect(Buffer.from(pkcs8)).toEqual(privateKey.export({ type: "pkcs8", format: "der" }));
        expect(Buffer.from(spki)).toEqual(createPublicKey(privateKey).export({ type: "spki", format: "der" }));
      }
    });
  }

  it("a scalar with leading zero bytes is padded to the curve's size, as OpenSSL writes it", () => {
    // Search ECDH keys for one whose scalar starts with a zero byte (one in 256).
    for (;;) {
      const ecdh = createECDH("prime256v1");
      const point = ecdh.generateKeys();
      const raw = ecdh.getPrivateKey();
      if (raw.length === 32) continue;
      const d = Buffer.concat([Buffer.alloc(32 - raw.length), raw]);
      const jwk = { kty: "EC", crv: "P-256", x: point.subarray(1, 33).toString("base64url"), y: point.subarray(33).toString("base64url"), d: d.toString("base64url") };
      const openssl = createPrivateKey({ key: jwk, format: "jwk" }).export({ type: "pkcs8", format: "der" });
      expect(Buffer.from(ecPkcs8("P-256", d, point))).toEqual(openssl);
      return;
    }
  });

  it("refuses a compressed point or a scalar of the wrong length", () => {
    const point = createECDH("prime256v1").generateKeys();
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

  // Node 20 deadlocks when a garbage collection during the export of a key just made by
  // generateKeyPairSync finalises its generation job (the job's destructor waits for the mutex
  // the export holds). With a collection forced every few dozen allocations, the generateKeyPairDer
  // that exported such keys hung within 30,000 P-256 pairs in 4 of 6 runs here, and within 60,000
  // in most; this one must get through them every time (~6 s).
  it("generateKeyPairDer never waits on itself when the garbage collector runs mid-generation", () => {
    const moduleUrl = pathToFileURL(join(root, "dist", "src", "x509", "private-keys.js")).href;
    const script = `import "reflect-metadata";
      const { generateKeyPairDer } = await import(${JSON.stringify(moduleUrl)});
      for (let i = 0; i < 60000; i++) await generateKeyPairDer("ecdsa-p256");
      console.log("generated");`;
    const run = spawnSync(process.execPath, ["--gc-interval=37", "--input-type=module", "-e", script], { cwd: root, encoding: "utf8", timeout: 60_000 });
    expect(run.error).toBeUndefined();
    expect(run.stdout.trim()).toBe("generated");
    expect(run.status).toBe(0);
  }, 90_000);
});

describe("pkcs8Signer", () => {
  it("refuses a key of another algorithm than the one named (curve, type, modulus size)", async () => {
    const { pkcs8, spki } = await generateKeyPairDer("ecdsa-p256");
    expect(() => pkcs8Signer(pkcs8, "ecdsa-p384", spki)).toThrow(/not ecdsa-p384/);
    expect(() => pkcs8Signer(pkcs8, "rsa-2048", spki)).toThrow(/not rsa-2048/);
    const signer = pkcs8Signer(pkcs8, "ecdsa-p256", spki);
    const data = Buffer.from("meshroot");
    expect(verify("sha256", data, createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" }), await signer.sign(data))).toBe(true);
    // Encoded by the generation itself: no KeyObject fresh from generateKeyPairSync is exported.
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048, publicKeyEncoding: { type: "spki", format: "der" }, privateKeyEncoding: { type: "pkcs8", format: "der" } });
    const rsaPkcs8 = new Uint8Array(rsa.privateKey);
    expect(() => pkcs8Signer(rsaPkcs8, "rsa-3072", spki)).toThrow(/not rsa-3072/);
    expect(() => pkcs8Signer(rsaPkcs8, "ecdsa-p256", spki)).toThrow(/not ecdsa-p256/);
  });
});

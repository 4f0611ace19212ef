import * as x509 from "@peculiar/x509";
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DomainError } from "../../src/errors.js";
import { name, oid, seq, tlv, uint } from "../../src/x509/der.js";
import { verifyCsr } from "../../src/x509/csr.js";
import { cert, crypto, makeCsr, openssl, testCore, TEST_CTX, writeFiles } from "../helpers.js";

/** CSR public keys are validated and re-encoded, never copied (issue 16, item 3). */

const EC_PUBLIC_KEY = "1.2.840.10045.2.1";
const P256 = "1.2.840.10045.3.1.7";
const RSA = "1.2.840.113549.1.1.1";
const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));
const RSA_SHA256 = seq(oid("1.2.840.113549.1.1.11"), tlv(0x05, Buffer.alloc(0)));
const NULL = tlv(0x05, Buffer.alloc(0));

const bitString = (bytes: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), bytes]));
const pemOf = (der: Buffer) => `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
const canonical = (key: KeyObject) => Buffer.from(key.export({ type: "spki", format: "der" }));

/** A PKCS#10 request over `spki`, signed by `signature(info)` (a real key, a forgery, or garbage). */
function csr(spki: Buffer, sigAlg: Buffer, signature: (info: Buffer) => Buffer): string {
  const info = seq(uint(0), name([["2.5.4.3", "hand made"]]), spki, tlv(0xa0, Buffer.alloc(0)));
  return pemOf(seq(info, sigAlg, bitString(signature(info))));
}

async function code(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => "ok",
    (e: unknown) => (e instanceof DomainError ? `${e.code}: ${e.message}` : String(e)),
  );
}

function ecKey() {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = publicKey.export({ format: "jwk" });
  const x = Buffer.from(jwk.x!, "base64url");
  const y = Buffer.from(jwk.y!, "base64url");
  const signWith = (info: Buffer) => sign("sha256", info, privateKey);
  return { privateKey, publicKey, x, y, signWith };
}

const ecSpki = (algParams: Buffer[], point: Buffer) => seq(seq(oid(EC_PUBLIC_KEY), ...algParams), bitString(point));
const rsaSpki = (n: Buffer | bigint, e: number | Buffer, algParams: Buffer[] = [NULL]) =>
  seq(seq(oid(RSA), ...algParams), bitString(seq(uint(typeof n === "bigint" ? n.toString(16) : n), typeof e === "number" ? uint(e) : tlv(0x02, e))));

function rsaKey(publicExponent = 65537) {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent });
  const n = Buffer.from(publicKey.export({ format: "jwk" }).n!, "base64url");
  return { privateKey, publicKey, n, signWith: (info: Buffer) => sign("sha256", info, privateKey) };
}

describe("CSR EC keys", () => {
  it("accepts an exact {ecPublicKey, P-256} key with an uncompressed point, re-encoded canonically", async () => {
    const k = ecKey();
    const ok = await verifyCsr(csr(ecSpki([oid(P256)], Buffer.concat([Buffer.from([4]), k.x, k.y])), ECDSA_SHA256, k.signWith));
    expect(ok.keyAlgorithm).toBe("ecdsa-p256");
    expect(Buffer.from(ok.spki)).toEqual(canonical(k.publicKey));
  });

  it("refuses extra elements in the EC AlgorithmIdentifier, even when the signature verifies", async () => {
    const k = ecKey();
    const point = Buffer.concat([Buffer.from([4]), k.x, k.y]);
    expect(await code(verifyCsr(csr(ecSpki([oid(P256), NULL], point), ECDSA_SHA256, k.signWith)))).toMatch(/^invalid_csr: .*AlgorithmIdentifier has extra elements/);
    expect(await code(verifyCsr(csr(ecSpki([oid(P256), tlv(0x04, Buffer.from("junk"))], point), ECDSA_SHA256, k.signWith)))).toMatch(/^invalid_csr: /);
  });

  it("refuses a compressed point, even when the signature verifies", async () => {
    const k = ecKey();
    const compressed = Buffer.concat([Buffer.from([2 + (k.y[k.y.length - 1]! & 1)]), k.x]);
    // The same key, compressed, is one OpenSSL reads: only meshroot's rule refuses it.
    expect(createPublicKey({ key: ecSpki([oid(P256)], compressed), format: "der", type: "spki" }).asymmetricKeyType).toBe("ec");
    expect(await code(verifyCsr(csr(ecSpki([oid(P256)], compressed), ECDSA_SHA256, k.signWith)))).toMatch(/^invalid_csr: .*not an uncompressed point/);
  });

  it("refuses a point that is not on the curve", async () => {
    const k = ecKey();
    const y = Buffer.from(k.y);
    y[y.length - 1]! ^= 1;
    expect(await code(verifyCsr(csr(ecSpki([oid(P256)], Buffer.concat([Buffer.from([4]), k.x, y])), ECDSA_SHA256, k.signWith)))).toMatch(/^invalid_csr: .*not a point on P-256/);
  });

  it("re-encodes a key whose SPKI uses a non-minimal DER length (the certificate never gets the CSR's bytes)", async () => {
    const k = ecKey();
    const good = ecSpki([oid(P256)], Buffer.concat([Buffer.from([4]), k.x, k.y]));
    const longForm = Buffer.concat([Buffer.from([0x30, 0x81, good[1]!]), good.subarray(2)]);
    const ok = await verifyCsr(csr(longForm, ECDSA_SHA256, k.signWith));
    expect(Buffer.from(ok.spki)).toEqual(canonical(k.publicKey));
    expect(Buffer.from(ok.spki)).not.toEqual(longForm);
  });
});

describe("CSR RSA keys", () => {
  /** PKCS#1 v1.5 encoding of SHA-256(info) in 256 bytes: with e = 1, this IS a valid signature, made with no private key. */
  function forgedWithExponentOne(info: Buffer): Buffer {
    const digestInfo = Buffer.concat([Buffer.from("3031300d060960864801650304020105000420", "hex"), createHash("sha256").update(info).digest()]);
    return Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(256 - 3 - digestInfo.length, 0xff), Buffer.from([0]), digestInfo]);
  }

  it("refuses e = 1 (a signature forged without any private key)", async () => {
    const { n } = rsaKey();
    expect(await code(verifyCsr(csr(rsaSpki(n, 1), RSA_SHA256, forgedWithExponentOne)))).toMatch(/^invalid_csr: .*exponent must be 65537, not 1/);
  });

  it("refuses e = 3, even when the signature verifies", async () => {
    const k = rsaKey(3);
    expect(await code(verifyCsr(csr(rsaSpki(k.n, 3), RSA_SHA256, k.signWith)))).toMatch(/^invalid_csr: .*exponent must be 65537, not 3/);
  });

  it("refuses an even modulus and one with a small prime factor, before the signature is checked", async () => {
    const k = rsaKey();
    const n = BigInt(`0x${k.n.toString("hex")}`);
    const even = n - 1n;
    let by3 = n - (n % 3n);
    if (by3 % 2n === 0n) by3 -= 3n;
    const by997 = (() => {
      // 997 × an odd cofactor with no factor below 997, keeping the 2048-bit size.
      for (let m = (n / 997n) | 1n; ; m -= 2n) {
        const c = 997n * m;
        if ([2n, 3n, 5n, 7n, 11n, 13n].every((p) => m % p !== 0n) && c.toString(2).length === 2048 && (() => { for (let p = 3n; p < 997n; p += 2n) if (m % p === 0n) return false; return true; })()) return c;
      }
    })();
    expect(await code(verifyCsr(csr(rsaSpki(even, 65537), RSA_SHA256, k.signWith)))).toMatch(/^invalid_csr: .*divisible by 2 \(even\)/);
    expect(await code(verifyCsr(csr(rsaSpki(by3, 65537), RSA_SHA256, k.signWith)))).toMatch(/^invalid_csr: .*divisible by 3:/);
    expect(await code(verifyCsr(csr(rsaSpki(by997, 65537), RSA_SHA256, k.signWith)))).toMatch(/^invalid_csr: .*divisible by 997:/);
  });

  it("refuses extra AlgorithmIdentifier parameters; re-encodes one without NULL canonically", async () => {
    const k = rsaKey();
    expect(await code(verifyCsr(csr(rsaSpki(k.n, 65537, [NULL, NULL]), RSA_SHA256, k.signWith)))).toMatch(/^invalid_csr: .*exactly \{rsaEncryption, NULL\}/);
    expect(await code(verifyCsr(csr(rsaSpki(k.n, 65537, [oid(P256)]), RSA_SHA256, k.signWith)))).toMatch(/^invalid_csr: /);
    const noNull = rsaSpki(k.n, 65537, []);
    const ok = await verifyCsr(csr(noNull, RSA_SHA256, k.signWith));
    expect(ok.keyAlgorithm).toBe("rsa-2048");
    expect(Buffer.from(ok.spki)).toEqual(canonical(k.publicKey));
  });

  it("refuses a non-minimal or negative exponent encoding", async () => {
    const k = rsaKey();
    expect(await code(verifyCsr(csr(rsaSpki(k.n, Buffer.from([0, 1, 0, 1])), RSA_SHA256, k.signWith)))).toMatch(/^invalid_csr: .*not minimally encoded/);
    expect(await code(verifyCsr(csr(rsaSpki(k.n, Buffer.from([0x81, 0, 1])), RSA_SHA256, k.signWith)))).toMatch(/^invalid_csr: .*not a positive INTEGER/);
  });
});

describe("issuing from a CSR", () => {
  it.each(["ecdsa-p256", "rsa-2048"] as const)("%s: the issued certificate carries the canonical SPKI, and openssl and @peculiar/x509 parse it", async (alg) => {
    const { core } = testCore();
    await core.trustDomains.create({ name: "csr.example" }, TEST_CTX);
    await core.clusters.register({ name: "c1", trustDomain: "csr.example", policy: { keyAlgorithm: alg } }, TEST_CTX);
    const { pem, keys } = await makeCsr(alg);
    const issued = await core.issuance.issue("c1", { csrPem: pem }, TEST_CTX);
    const inter = cert(issued.record.certPem);
    const pkcs8 = Buffer.from(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
    const expected = canonical(createPublicKey(createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })));
    expect(Buffer.from(inter.publicKey.rawData)).toEqual(expected);
    expect(inter).toBeInstanceOf(x509.X509Certificate);
    const dir = writeFiles({ "inter.pem": issued.record.certPem });
    const text = openssl(["x509", "-noout", "-text", "-in", `${dir}/inter.pem`]);
    expect(text).toContain(alg.startsWith("rsa") ? "Public-Key: (2048 bit)" : "ASN1 OID: prime256v1");
    const fromOpenssl = openssl(["x509", "-noout", "-pubkey", "-in", `${dir}/inter.pem`]);
    expect(Buffer.from(createPublicKey(fromOpenssl).export({ type: "spki", format: "der" }))).toEqual(expected);
  });
});

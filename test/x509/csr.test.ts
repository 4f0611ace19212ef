import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { verifyCsr } from "../../src/x509/csr.js";
import { DomainError } from "../../src/errors.js";
import fc from "fast-check";
import { join } from "node:path";
import { readFileSync } from "node:fs";
import { crypto, makeCsr, openssl, tempDir } from "../helpers.js";

const derOf = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
const pemOf = (der: Uint8Array) => `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(der).toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
const CODES = ["ok", "invalid_pem", "invalid_csr", "unsupported_key_algorithm", "csr_signature_invalid"];

async function code(p: Promise<unknown>) {
  return p.then(
    () => "ok",
    (e: unknown) => (e instanceof DomainError ? e.code : String(e)),
  );
}

/** Flips one bit of the CSR's signature (the last bytes of the DER). */
function tamperSignature(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
  der[der.length - 3]! ^= 0x01;
  return new x509.Pkcs10CertificateRequest(der).toString("pem");
}

describe("CSR verification", () => {
  it("returns the public key and algorithm of a well-signed CSR", async () => {
    for (const alg of ["ecdsa-p256", "ecdsa-p384", "rsa-2048"] as const) {
      const { pem } = await makeCsr(alg);
      expect((await verifyCsr(pem)).keyAlgorithm).toBe(alg);
    }
  });

  it("rejects a CSR whose signature does not verify", async () => {
    const { pem } = await makeCsr();
    expect(await code(verifyCsr(tamperSignature(pem)))).toBe("csr_signature_invalid");
  });

  it("rejects unsupported keys: P-521 and Ed25519", async () => {
    const p521 = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-521" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const csr521 = await x509.Pkcs10CertificateRequestGenerator.create({ name: "CN=x", keys: p521, signingAlgorithm: { name: "ECDSA", hash: "SHA-512" } as EcdsaParams });
    expect(await code(verifyCsr(csr521.toString("pem")))).toBe("unsupported_key_algorithm");
    const ed = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
    const csrEd = await x509.Pkcs10CertificateRequestGenerator.create({ name: "CN=x", keys: ed, signingAlgorithm: { name: "Ed25519" } });
    expect(await code(verifyCsr(csrEd.toString("pem")))).toBe("unsupported_key_algorithm");
  });

  it("rejects PEM that is not a CSR, broken base64, and DER that is not PKCS#10", async () => {
    expect(await code(verifyCsr("not pem"))).toBe("invalid_pem");
    expect(await code(verifyCsr("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"))).toBe("invalid_pem");
    expect(await code(verifyCsr("-----BEGIN CERTIFICATE REQUEST-----\n@@@@\n-----END CERTIFICATE REQUEST-----"))).toBe("invalid_pem");
    expect(await code(verifyCsr("-----BEGIN CERTIFICATE REQUEST-----\nMAMCAQA=\n-----END CERTIFICATE REQUEST-----"))).toBe("invalid_csr");
    const { pem } = await makeCsr();
    expect(await code(verifyCsr(pem + pem))).toBe("invalid_pem");
  });

  it("returns the same public key as @peculiar/x509 reads, for every supported algorithm", async () => {
    for (const alg of ["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072"] as const) {
      const { pem } = await makeCsr(alg);
      const ours = await verifyCsr(pem);
      expect(ours.keyAlgorithm).toBe(alg);
      expect(Buffer.from(ours.spki)).toEqual(Buffer.from(new x509.Pkcs10CertificateRequest(pem).publicKey.rawData));
    }
  });

  it("accepts CSRs made by openssl, and refuses SHA-1 signatures", () => {
    const dir = tempDir();
    const make = (keyOpts: string[], digest: string) => {
      const out = join(dir, `${digest}-${keyOpts.join("")}.csr`.replace(/[^\w.-]/g, ""));
      openssl(["req", "-new", "-nodes", "-subj", "/CN=from-openssl", ...keyOpts, `-${digest}`, "-keyout", join(dir, "k.pem"), "-out", out]);
      return readFileSync(out, "utf8");
    };
    return Promise.all([
      verifyCsr(make(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "sha256")).then((r) => expect(r.keyAlgorithm).toBe("ecdsa-p256")),
      verifyCsr(make(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"], "sha384")).then((r) => expect(r.keyAlgorithm).toBe("ecdsa-p384")),
      verifyCsr(make(["-newkey", "rsa:2048"], "sha512")).then((r) => expect(r.keyAlgorithm).toBe("rsa-2048")),
      code(verifyCsr(make(["-newkey", "rsa:2048"], "sha1"))).then((c) => expect(c).toBe("csr_signature_invalid")),
    ]);
  });

  it("refuses a compressed EC point (Go cannot parse it) and a request whose signed part was changed", async () => {
    const dir = tempDir();
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", join(dir, "k.pem")]);
    openssl(["ec", "-in", join(dir, "k.pem"), "-conv_form", "compressed", "-out", join(dir, "kc.pem")]);
    openssl(["req", "-new", "-key", join(dir, "kc.pem"), "-subj", "/CN=compressed", "-sha256", "-out", join(dir, "c.csr")]);
    const pem = readFileSync(join(dir, "c.csr"), "utf8");
    expect(await code(verifyCsr(pem))).toBe("invalid_csr");
    const der = derOf((await makeCsr()).pem);
    const at = der.indexOf(Buffer.from("attacker chosen"));
    der[at] = "A".charCodeAt(0);
    expect(await code(verifyCsr(pemOf(der)))).toBe("csr_signature_invalid");
  });

  it("never fails with anything but a documented refusal, whatever the bytes", async () => {
    const valid = derOf((await makeCsr()).pem);
    const mutated = fc.oneof(
      fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => { const d = Buffer.from(valid); d[i]! ^= x; return d; }),
      fc.nat(valid.length - 1).map((n) => valid.subarray(0, n)),
      fc.tuple(fc.nat(valid.length - 1), fc.constantFrom([0x84, 0xff, 0xff, 0xff, 0xff], [0x80], [0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9], [0x1f, 0x81])).map(([i, bytes]) => Buffer.concat([valid.subarray(0, i), Buffer.from(bytes), valid.subarray(i + 1)])),
      fc.uint8Array({ minLength: 0, maxLength: 600 }).map((b) => Buffer.from(b)),
    );
    await fc.assert(
      fc.asyncProperty(mutated, async (der) => {
        expect(CODES).toContain(await code(verifyCsr(pemOf(der))));
      }),
      { numRuns: 600 },
    );
  });
});

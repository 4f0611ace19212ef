import { createPublicKey, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { envelopeVault } from "../../src/keys/envelope-vault.js";
import { parseSealedRef, sealedRootKeys } from "../../src/keys/sealed-root-keys.js";
import { DomainError } from "../../src/errors.js";
import { KEY_ALGORITHMS } from "../../src/x509/key-algorithms.js";
import { MASTER_KEY, testApp, TEST_CTX } from "../helpers.js";

const keys = sealedRootKeys(envelopeVault(MASTER_KEY));
const data = Buffer.from("to be signed");

function verifies(spki: Uint8Array, alg: string, signature: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  return verify(alg === "ecdsa-p384" ? "sha384" : "sha256", data, key, signature);
}

describe("sealed root keys (the signer seam)", () => {
  it.each(KEY_ALGORITHMS.filter((a) => a !== "rsa-4096"))("generates a %s key, binds it to a row, and signs by reference only", async (alg) => {
    const pending = await keys.generate(alg);
    expect(verifies(pending.signer.spki, alg, await pending.signer.sign(data))).toBe(true);
    const ref = await pending.bind("0a0b");
    expect(ref).toMatch(/^sealed:root:0a0b:[0-9a-f]+$/);
    const signer = await keys.signerFor(ref, alg);
    expect(Buffer.from(signer.spki)).toEqual(Buffer.from(pending.signer.spki));
    expect(verifies(signer.spki, alg, await signer.sign(data))).toBe(true);
  });

  it("refuses a tampered envelope, a reference with another row's AAD, and references it cannot read", async () => {
    const ref = await (await keys.generate("ecdsa-p256")).bind("0a0b");
    const hexAt = ref.lastIndexOf(":") + 1;
    const flipped = ref.slice(0, -2) + (ref.endsWith("00") ? "01" : "00");
    await expect(keys.signerFor(flipped, "ecdsa-p256")).rejects.toMatchObject({ code: "decryption_failed" });
    const moved = `sealed:root:0c0d:${ref.slice(hexAt)}`;
    await expect(keys.signerFor(moved, "ecdsa-p256")).rejects.toMatchObject({ code: "decryption_failed" });
    const otherVault = sealedRootKeys(envelopeVault(new Uint8Array(32).fill(9)));
    await expect(otherVault.signerFor(ref, "ecdsa-p256")).rejects.toMatchObject({ code: "master_key_mismatch" });
    for (const bad of ["pkcs11:token=x;object=y", "sealed:", "sealed:root:0a:xyz", `sealed::${ref.slice(hexAt)}`]) {
      expect(() => parseSealedRef(bad), bad).toThrow(DomainError);
      await expect(keys.signerFor(bad, "ecdsa-p256")).rejects.toMatchObject({ code: "key_unavailable" });
    }
  });

  it("refuses to issue under a root whose key reference holds another root's key: 503 key_unavailable, nothing written", async () => {
    const t = await testApp();
    await t.core.trustDomains.create({ name: "a.example" }, TEST_CTX);
    await t.core.trustDomains.create({ name: "b.example" }, TEST_CTX);
    await t.core.clusters.register({ name: "east", trustDomain: "a.example" }, TEST_CTX);
    // Copy b's key reference (a valid envelope, for b's row) into a's root.
    t.db.prepare("UPDATE roots SET key_ref = (SELECT key_ref FROM roots WHERE trust_domain = 'b.example') WHERE trust_domain = 'a.example'").run();
    const res = await t.app.inject({ method: "POST", url: "/v1/clusters/east/intermediates", headers: t.auth(), payload: {} });
    expect(res.statusCode).toBe(503);
    expect(res.json().code).toBe("key_unavailable");
    expect((t.db.prepare("SELECT COUNT(*) AS n FROM intermediates").get() as { n: number }).n).toBe(0);
  });
});

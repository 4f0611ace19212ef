import { describe, expect, it } from "vitest";
import { decodeMasterKey, envelopeVault } from "../../src/keys/envelope-vault.js";
import { DomainError } from "../../src/errors.js";

const key = (n: number) => new Uint8Array(32).fill(n);
const secret = new TextEncoder().encode("-----BEGIN PRIVATE KEY----- not really -----END PRIVATE KEY-----");

async function expectCode(p: Promise<unknown>, code: string) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DomainError);
  expect((err as DomainError).code).toBe(code);
  return err as DomainError;
}

describe("envelope key vault (AES-256-GCM)", () => {
  it("round-trips and never stores the plaintext", async () => {
    const vault = envelopeVault(key(1));
    const sealed = await vault.seal(secret, "intermediate:aa");
    expect(Buffer.from(sealed).includes(Buffer.from(secret))).toBe(false);
    expect(Buffer.from(await vault.open(sealed, "intermediate:aa"))).toEqual(Buffer.from(secret));
  });

  it("uses fresh nonces and data keys: the same plaintext seals differently each time", async () => {
    const vault = envelopeVault(key(1));
    const a = await vault.seal(secret, "root:1");
    const b = await vault.seal(secret, "root:1");
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  it("refuses a ciphertext moved to another row", async () => {
    const vault = envelopeVault(key(1));
    const sealed = await vault.seal(secret, "intermediate:aa");
    const err = await expectCode(vault.open(sealed, "intermediate:bb"), "decryption_failed");
    expect(err.message).toContain("intermediate:bb");
  });

  it("detects a single flipped bit anywhere in the record", async () => {
    const vault = envelopeVault(key(1));
    const sealed = await vault.seal(secret, "root:1");
    // Skip the 12 bytes of magic and key id (those give their own errors, tested below).
    for (let i = 12; i < sealed.length; i += 7) {
      const tampered = Uint8Array.from(sealed);
      tampered[i]! ^= 0x01;
      await expectCode(vault.open(tampered, "root:1"), "decryption_failed");
    }
  });

  it("says which master key a record needs when another one is loaded", async () => {
    const sealed = await envelopeVault(key(1)).seal(secret, "root:1");
    const other = envelopeVault(key(2));
    const err = await expectCode(other.open(sealed, "root:1"), "master_key_mismatch");
    expect(err.message).toContain(envelopeVault(key(1)).keyId);
    expect(err.message).toContain(other.keyId);
  });

  it("refuses a wrong master key even when the key id is forged", async () => {
    const sealed = Buffer.from(await envelopeVault(key(1)).seal(secret, "root:1"));
    const other = envelopeVault(key(2));
    Buffer.from(other.keyId, "hex").copy(sealed, 4);
    await expectCode(other.open(sealed, "root:1"), "decryption_failed");
  });

  it("refuses truncated and foreign blobs", async () => {
    const vault = envelopeVault(key(1));
    const sealed = await vault.seal(secret, "root:1");
    await expectCode(vault.open(sealed.subarray(0, 40), "root:1"), "decryption_failed");
    await expectCode(vault.open(new Uint8Array(200), "root:1"), "decryption_failed");
  });

  it("needs a 32-byte master key", () => {
    expect(() => envelopeVault(new Uint8Array(16))).toThrow(/32 bytes/);
  });
});

describe("decodeMasterKey", () => {
  it("accepts base64 text of 32 bytes and 32 raw bytes", () => {
    const raw = Buffer.alloc(32, 9);
    expect(decodeMasterKey(raw.toString("base64") + "\n", "x")).toEqual(new Uint8Array(raw));
    expect(decodeMasterKey(raw, "x")).toEqual(new Uint8Array(raw));
  });

  it("rejects anything else with the variable's name", () => {
    expect(() => decodeMasterKey("c2hvcnQ=", "MESHROOT_MASTER_KEY")).toThrow(/MESHROOT_MASTER_KEY must hold 32 bytes/);
    expect(() => decodeMasterKey("not base64 at all!", "K")).toThrow(/K must hold 32 bytes/);
  });
});

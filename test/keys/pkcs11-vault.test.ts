import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelopeVault } from "../../src/keys/envelope-vault.js";
import { openPkcs11Token, type Pkcs11Token } from "../../src/keys/pkcs11-token.js";
import { MAC_KEY_LABEL, MASTER_KEY_LABEL, pkcs11KeyVault } from "../../src/keys/pkcs11-vault.js";
import { MASTER_KEY } from "../helpers.js";
import { dropToken, skipSofthsm, softToken, type SoftToken } from "./softhsm.js";

describe.skipIf(skipSofthsm)("the master key in the token (MESHROOT_PKCS11_MASTER_KEY)", () => {
  let soft: SoftToken;
  let token: Pkcs11Token;

  beforeAll(() => {
    soft = softToken("meshroot-vault");
    token = openPkcs11Token({ module: soft.module, token: soft.label, pin: soft.pin });
  });
  afterAll(() => {
    token?.close();
    dropToken(soft);
  });

  it("creates an AES master key and a MAC key in the token once, never extractable, and finds them again", async () => {
    const vault = await pkcs11KeyVault(token);
    const again = await pkcs11KeyVault(token);
    expect(again.keyId).toBe(vault.keyId);
    expect(vault.keyId).toMatch(/^hsm-[0-9a-f]{16}$/);
    const listing = soft.tool(["--list-objects", "--type", "secrkey"]);
    for (const label of [MASTER_KEY_LABEL, MAC_KEY_LABEL]) {
      expect(listing.split(label).length - 1, label).toBe(1);
      expect(listing.slice(listing.indexOf(label))).toMatch(/Access:\s+sensitive, always sensitive, never extractable, local/);
    }
  });

  it("seals and opens a record bound to its identity; a moved, altered or software-sealed record is refused", async () => {
    const vault = await pkcs11KeyVault(token);
    const secret = new TextEncoder().encode("-----BEGIN PRIVATE KEY----- intermediate");
    const sealed = await vault.seal(secret, "intermediate:0a");
    expect(Buffer.from(sealed).includes(Buffer.from(secret))).toBe(false);
    expect(Buffer.from(await vault.open(sealed, "intermediate:0a")).toString()).toBe(Buffer.from(secret).toString());
    await expect(vault.open(sealed, "intermediate:0b")).rejects.toMatchObject({ code: "decryption_failed" });
    const altered = new Uint8Array(sealed);
    altered[altered.length - 1]! ^= 1;
    await expect(vault.open(altered, "intermediate:0a")).rejects.toMatchObject({ code: "decryption_failed" });
    const software = await envelopeVault(MASTER_KEY).seal(secret, "intermediate:0a");
    await expect(vault.open(software, "intermediate:0a")).rejects.toMatchObject({ code: "master_key_mismatch" });
    await expect(envelopeVault(MASTER_KEY).open(sealed, "intermediate:0a")).rejects.toMatchObject({ code: "decryption_failed" });
  });

  it("MACs by purpose in the token: stable, and different per purpose and message", async () => {
    const vault = await pkcs11KeyVault(token);
    const a = await vault.mac!("audit-checkpoint", "seq=1");
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(await (await pkcs11KeyVault(token)).mac!("audit-checkpoint", "seq=1")).toBe(a);
    expect(await vault.mac!("other", "seq=1")).not.toBe(a);
    expect(await vault.mac!("audit-checkpoint", "seq=2")).not.toBe(a);
  });

  it("answers hsm_unavailable while the token is gone and opens again once it is back", async () => {
    const vault = await pkcs11KeyVault(token);
    const sealed = await vault.seal(new Uint8Array([1, 2, 3]), "root:01");
    soft.remove();
    try {
      await expect(vault.open(sealed, "root:01")).rejects.toMatchObject({ code: "hsm_unavailable" });
      await expect(vault.seal(new Uint8Array([1]), "root:02")).rejects.toMatchObject({ code: "hsm_unavailable" });
    } finally {
      soft.restore();
    }
    expect([...(await vault.open(sealed, "root:01"))]).toEqual([1, 2, 3]);
  });
});

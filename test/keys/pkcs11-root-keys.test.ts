import { createPublicKey, verify } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPkcs11Token, type Pkcs11Token } from "../../src/keys/pkcs11-token.js";
import { pkcs11RootKeys } from "../../src/keys/pkcs11-root-keys.js";
import { rootKeysByScheme } from "../../src/keys/pkcs11-dispatch.js";
import { formatPkcs11Uri, parsePkcs11Uri } from "../../src/keys/pkcs11-uri.js";
import { sealedRootKeys } from "../../src/keys/sealed-root-keys.js";
import { envelopeVault } from "../../src/keys/envelope-vault.js";
import { KEY_ALGORITHMS, type KeyAlgorithm } from "../../src/x509/key-algorithms.js";
import { MASTER_KEY } from "../helpers.js";
import { dropToken, skipSofthsm, softToken, type SoftToken } from "./softhsm.js";

const data = Buffer.from("to be signed");

function verifies(spki: Uint8Array, alg: string, signature: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  return verify(alg === "ecdsa-p384" ? "sha384" : "sha256", data, key, signature);
}

describe("pkcs11: URIs (RFC 7512)", () => {
  it("round-trips token, id, object and type, percent-encoding what must be", () => {
    const uri = formatPkcs11Uri({ token: "my token;1", id: new Uint8Array([0x01, 0xab]), object: "meshroot-root-0a", type: "private" });
    expect(uri).toBe("pkcs11:token=my%20token%3b1;id=%01%ab;object=meshroot-root-0a;type=private");
    const back = parsePkcs11Uri(uri);
    expect(back.token).toBe("my token;1");
    expect(Buffer.from(back.id!).toString("hex")).toBe("01ab");
    expect(back.object).toBe("meshroot-root-0a");
  });

  it("decodes UTF-8 labels, literal or escaped", () => {
    expect(parsePkcs11Uri("pkcs11:token=t%C3%B6ken;object=sch%c3%bcssel").token).toBe("töken");
    expect(parsePkcs11Uri("pkcs11:token=töken 🔑;object=x").token).toBe("töken 🔑");
    expect(parsePkcs11Uri(formatPkcs11Uri({ token: "töken 🔑", object: "x" })).token).toBe("töken 🔑");
  });

  it("refuses what is not a private key's URI, a query (a PIN) and malformed escapes", () => {
    for (const bad of ["sealed:root:0a:00", "pkcs11:token=t", "pkcs11:id=%01;type=cert", "pkcs11:id=%01?pin-value=1234", "pkcs11:id=%zz", "pkcs11:object"]) {
      expect(() => parsePkcs11Uri(bad), bad).toThrow(expect.objectContaining({ code: "validation_failed" }));
    }
  });
});

// One token folder for the file: SoftHSM reads SOFTHSM2_CONF once per process, when the module is initialised.
let soft: SoftToken;
beforeAll(() => {
  if (skipSofthsm) return;
  soft = softToken("meshroot-unit");
  soft.addToken("meshroot-start");
});
afterAll(() => dropToken(soft));

describe.skipIf(skipSofthsm)("root keys in a PKCS#11 token (SoftHSM2)", () => {
  let token: Pkcs11Token;
  let keys: ReturnType<typeof pkcs11RootKeys>;

  beforeAll(() => {
    token = openPkcs11Token({ module: soft.module, token: soft.label, pin: soft.pin });
    keys = pkcs11RootKeys(token);
  });
  afterAll(() => token?.close());

  it.each(KEY_ALGORITHMS.filter((a) => a !== "rsa-4096"))("generates a %s key inside the token, binds it to the serial, and signs by URI", async (alg: KeyAlgorithm) => {
    const pending = await keys.generate(alg);
    expect(verifies(pending.signer.spki, alg, await pending.signer.sign(data))).toBe(true);
    const serial = alg === "ecdsa-p256" ? "0a0b0c" : `1${KEY_ALGORITHMS.indexOf(alg)}`;
    const ref = await pending.bind(serial);
    expect(ref).toBe(`pkcs11:token=meshroot-unit;id=%${serial.slice(0, 2)}${serial.length > 2 ? "%0b%0c" : ""};object=meshroot-root-${serial};type=private`);
    const signer = await keys.signerFor(ref, alg);
    expect(Buffer.from(signer.spki)).toEqual(Buffer.from(pending.signer.spki));
    expect(verifies(signer.spki, alg, await signer.sign(data))).toBe(true);
    // The signer made before bind still works (it follows the key to its new id).
    expect(verifies(pending.signer.spki, alg, await pending.signer.sign(data))).toBe(true);
  });

  it("makes the private key a token object that is private, sensitive and not extractable: its value cannot be read", async () => {
    const ref = await (await keys.generate("ecdsa-p256")).bind("5e5e");
    const attrs = soft.tool(["--list-objects", "--type", "privkey", "--id", "5e5e"]);
    const ours = attrs.slice(attrs.indexOf("meshroot-root-5e5e"));
    expect(ours).toMatch(/^meshroot-root-5e5e\s+ID:\s+5e5e\s+Usage:\s+sign\s+Access:\s+sensitive, always sensitive, never extractable, local/);
    // C_GetAttributeValue(CKA_VALUE) through the same session meshroot uses: refused.
    await expect(
      token.run((s) => {
        s.p.C_FindObjectsInit(s.handle, [{ type: token.lib.CKA_CLASS, value: token.lib.CKO_PRIVATE_KEY }, { type: token.lib.CKA_ID, value: Buffer.from("5e5e", "hex") }]);
        const [h] = s.p.C_FindObjects(s.handle, 1);
        s.p.C_FindObjectsFinal(s.handle);
        return s.p.C_GetAttributeValue(s.handle, h!, [{ type: token.lib.CKA_VALUE }]);
      }),
    ).rejects.toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
    expect(ref).not.toMatch(/[0-9a-f]{64}/);
  });

  it("adopts an existing token key by URI (id or label) and refuses one that is missing or of another algorithm", async () => {
    const made = await keys.generate("ecdsa-p384");
    const ref = await made.bind("ad0b");
    const byLabel = await keys.adopt("pkcs11:object=meshroot-root-ad0b;type=private", "ecdsa-p384");
    expect(Buffer.from(byLabel.signer.spki)).toEqual(Buffer.from(made.signer.spki));
    expect(await byLabel.bind("ffff")).toBe(ref);
    await expect(keys.adopt("pkcs11:id=%de%ad", "ecdsa-p256")).rejects.toMatchObject({ code: "hsm_key_not_found" });
    await expect(keys.adopt(ref, "ecdsa-p256")).rejects.toMatchObject({ code: "key_mismatch" });
    await expect(keys.adopt("pkcs11:token=other;id=%ad%0b", "ecdsa-p384")).rejects.toMatchObject({ code: "key_unavailable" });
    // A stored reference it cannot use is the key being unavailable, not a bad request.
    await expect(keys.signerFor("pkcs11:id=%zz", "ecdsa-p256")).rejects.toMatchObject({ code: "key_unavailable" });
  });

  it("answers key_unavailable when the key object is gone", async () => {
    const ref = await (await keys.generate("ecdsa-p256")).bind("de1e7e");
    soft.tool(["--delete-object", "--type", "privkey", "--id", "de1e7e"]);
    await expect(keys.signerFor(ref, "ecdsa-p256")).rejects.toMatchObject({ code: "key_unavailable", message: expect.stringContaining("no private key") });
  });

  it("answers hsm_unavailable while the token is gone, and signs again when it is back", async () => {
    const pending = await keys.generate("ecdsa-p256");
    const ref = await pending.bind("0e0e");
    const signer = await keys.signerFor(ref, "ecdsa-p256");
    soft.remove();
    try {
      await expect(signer.sign(data)).rejects.toMatchObject({ code: "hsm_unavailable" });
      await expect(keys.generate("ecdsa-p256")).rejects.toMatchObject({ code: "hsm_unavailable" });
      expect(token.healthy()).toBe(false);
    } finally {
      soft.restore();
    }
    expect(verifies(signer.spki, "ecdsa-p256", await signer.sign(data))).toBe(true);
    expect(token.healthy()).toBe(true);
  });

  it("signs concurrently through the one session, in order", async () => {
    const signer = (await keys.generate("ecdsa-p256")).signer;
    const sigs = await Promise.all(Array.from({ length: 50 }, () => signer.sign(data)));
    expect(sigs.every((s) => verifies(signer.spki, "ecdsa-p256", s))).toBe(true);
  });

  it("dispatches on the reference's scheme: sealed and pkcs11 roots side by side", async () => {
    const sealed = sealedRootKeys(envelopeVault(MASTER_KEY));
    const both = rootKeysByScheme(sealed, keys);
    const soft1 = await both.generate("ecdsa-p256");
    const hard = await both.hsm!.generate("ecdsa-p256");
    const softRef = await soft1.bind("01");
    const hardRef = await hard.bind("02");
    expect(softRef).toMatch(/^sealed:/);
    expect(hardRef).toMatch(/^pkcs11:/);
    expect(verifies((await both.signerFor(softRef, "ecdsa-p256")).spki, "ecdsa-p256", await (await both.signerFor(softRef, "ecdsa-p256")).sign(data))).toBe(true);
    const hs = await both.signerFor(hardRef, "ecdsa-p256");
    expect(verifies(hs.spki, "ecdsa-p256", await hs.sign(data))).toBe(true);
    const none = rootKeysByScheme(sealed, undefined);
    expect(none.hsm).toBeUndefined();
    await expect(none.signerFor(hardRef, "ecdsa-p256")).rejects.toMatchObject({ code: "key_unavailable" });
  });
});

describe.skipIf(skipSofthsm)("opening the token at start", () => {
  it("names the setting to fix: module, token label, PIN", () => {
    expect(() => openPkcs11Token({ module: "/nonexistent/libnothing.so", token: soft.label, pin: soft.pin })).toThrow(
      expect.objectContaining({ code: "config_invalid", message: expect.stringContaining("MESHROOT_PKCS11_MODULE /nonexistent/libnothing.so cannot be loaded") }),
    );
    expect(() => openPkcs11Token({ module: soft.module, token: "absent", pin: soft.pin })).toThrow(
      expect.objectContaining({ code: "config_invalid", message: expect.stringMatching(/no token labelled "absent" \(MESHROOT_PKCS11_TOKEN\).*"meshroot-start"/) }),
    );
    let err: unknown;
    try {
      openPkcs11Token({ module: soft.module, token: "meshroot-start", pin: "wrong-pin", names: { module: "M", token: "T", pin: "MESHROOT_PKCS11_PIN_FILE" } });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: "config_invalid", message: expect.stringContaining("MESHROOT_PKCS11_PIN_FILE was refused") });
    expect((err as Error).message).not.toContain("wrong-pin");
  });
});

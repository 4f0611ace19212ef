import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { KeyVault } from "../core/ports.js";
import { DomainError } from "../errors.js";
import type { Handle, Pkcs11Token, Session } from "./pkcs11-token.js";

/**
 * The KeyVault with its master key in the HSM (MESHROOT_PKCS11_MASTER_KEY): an AES-256 key in the
 * token (token object, private, sensitive, never extractable) wraps each record's data key with
 * AES-256-GCM inside the token; the data is sealed with that data key here, as envelopeVault does.
 * The audit checkpoints' MAC is HMAC-SHA256 under a second secret key in the token. Neither key
 * ever leaves the token, so the database and a master-key file no longer hold what opens the
 * escrowed intermediate keys.
 * Layout: "MRH1" | kid(8) | wrapNonce(12) | wrappedDek+tag(48) | nonce(12) | tag(16) | ciphertext.
 */
export const MASTER_KEY_LABEL = "meshroot-master-key";
export const MAC_KEY_LABEL = "meshroot-mac-key";
const MAGIC = Buffer.from("MRH1");
const SOFTWARE_MAGIC = Buffer.from("MRK1");
const KID_LEN = 8;
const NONCE_LEN = 12;
const TAG_LEN = 16;
const DEK_LEN = 32;
const HEADER_LEN = MAGIC.length + KID_LEN + NONCE_LEN + DEK_LEN + TAG_LEN + NONCE_LEN + TAG_LEN;

/**
 * Finds the token's master and MAC keys, creating them on first use. Throws `hsm_unavailable`,
 * `config_invalid` when the token holds several keys of that label.
 */
export async function pkcs11KeyVault(token: Pkcs11Token): Promise<KeyVault> {
  const lib = token.lib;
  const cache = new Map<string, { epoch: number; handle: Handle }>();

  function secretKey(s: Session, label: string, create: boolean): Handle | undefined {
    const known = cache.get(label);
    if (known && known.epoch === s.epoch) return known.handle;
    s.p.C_FindObjectsInit(s.handle, [{ type: lib.CKA_CLASS, value: lib.CKO_SECRET_KEY }, { type: lib.CKA_LABEL, value: label }]);
    let found: Handle[];
    try {
      found = s.p.C_FindObjects(s.handle, 2);
    } finally {
      s.p.C_FindObjectsFinal(s.handle);
    }
    if (found.length > 1) throw new DomainError("config_invalid", `token ${JSON.stringify(token.label)} holds ${found.length} secret keys labelled ${label}: keep one`);
    let handle = found[0];
    if (!handle && create) {
      const aes = label === MASTER_KEY_LABEL;
      handle = s.p.C_GenerateKey(s.handle, { mechanism: aes ? lib.CKM_AES_KEY_GEN : lib.CKM_GENERIC_SECRET_KEY_GEN }, [
        { type: lib.CKA_CLASS, value: lib.CKO_SECRET_KEY },
        { type: lib.CKA_KEY_TYPE, value: aes ? lib.CKK_AES : lib.CKK_GENERIC_SECRET },
        { type: lib.CKA_VALUE_LEN, value: 32 },
        { type: lib.CKA_TOKEN, value: true },
        { type: lib.CKA_PRIVATE, value: true },
        { type: lib.CKA_SENSITIVE, value: true },
        { type: lib.CKA_EXTRACTABLE, value: false },
        { type: lib.CKA_LABEL, value: label },
        { type: lib.CKA_ID, value: randomBytes(KID_LEN) },
        ...(aes ? [{ type: lib.CKA_ENCRYPT, value: true }, { type: lib.CKA_DECRYPT, value: true }] : [{ type: lib.CKA_SIGN, value: true }]),
      ]);
    }
    if (handle) cache.set(label, { epoch: s.epoch, handle });
    return handle;
  }

  function masterKey(s: Session): Handle {
    const h = secretKey(s, MASTER_KEY_LABEL, false);
    if (!h) throw new DomainError("key_unavailable", `token ${JSON.stringify(token.label)} no longer holds the master key (${MASTER_KEY_LABEL}): restore it from the HSM's backup`);
    return h;
  }

  const kid = await token.run((s) => {
    const h = secretKey(s, MASTER_KEY_LABEL, true)!;
    secretKey(s, MAC_KEY_LABEL, true);
    const [id] = s.p.C_GetAttributeValue(s.handle, h, [{ type: lib.CKA_ID }]).map((a) => a.value);
    return Buffer.from(id ?? Buffer.alloc(0)).subarray(0, KID_LEN);
  });
  const gcm = (iv: Buffer, aad: string) => ({ mechanism: lib.CKM_AES_GCM, parameter: { type: lib.CK_PARAMS_AES_GCM, iv, aad: aadBytes("dek", aad), ivBits: 96, tagBits: 128 } });

  return {
    keyId: `hsm-${kid.toString("hex")}`,
    async seal(plaintext, aad) {
      const dek = randomBytes(DEK_LEN);
      const wrapNonce = randomBytes(NONCE_LEN);
      const wrapped = await token.run((s) => {
        s.p.C_EncryptInit(s.handle, gcm(wrapNonce, aad), masterKey(s));
        return s.p.C_Encrypt(s.handle, dek, Buffer.alloc(DEK_LEN + TAG_LEN + 16));
      });
      const nonce = randomBytes(NONCE_LEN);
      const enc = createCipheriv("aes-256-gcm", dek, nonce).setAAD(aadBytes("data", aad));
      const ciphertext = Buffer.concat([enc.update(plaintext), enc.final()]);
      return new Uint8Array(Buffer.concat([MAGIC, kid, wrapNonce, wrapped, nonce, enc.getAuthTag(), ciphertext]));
    },
    async open(sealed, aad) {
      const buf = Buffer.from(sealed);
      if (buf.subarray(0, 4).equals(SOFTWARE_MAGIC)) {
        throw new DomainError("master_key_mismatch", `encrypted key for ${aad} was sealed under a software master key, but the master key in HSM token ${JSON.stringify(token.label)} is loaded`);
      }
      if (buf.length < HEADER_LEN || !buf.subarray(0, MAGIC.length).equals(MAGIC)) throw new DomainError("decryption_failed", `encrypted key for ${aad} is not a meshroot envelope`);
      let at = MAGIC.length;
      const take = (n: number) => buf.subarray(at, (at += n));
      const recordKid = take(KID_LEN);
      if (!recordKid.equals(kid)) {
        throw new DomainError("master_key_mismatch", `encrypted key for ${aad} was sealed under HSM master key hsm-${recordKid.toString("hex")}, but hsm-${kid.toString("hex")} is loaded`);
      }
      const wrapNonce = take(NONCE_LEN);
      const wrapped = take(DEK_LEN + TAG_LEN);
      const nonce = take(NONCE_LEN);
      const tag = take(TAG_LEN);
      const ciphertext = buf.subarray(at);
      const failed = () => new DomainError("decryption_failed", `encrypted key for ${aad} failed authentication: it was altered or belongs to another record`);
      const dek = await token.run((s) => {
        s.p.C_DecryptInit(s.handle, gcm(wrapNonce, aad), masterKey(s));
        try {
          return s.p.C_Decrypt(s.handle, wrapped, Buffer.alloc(DEK_LEN + TAG_LEN));
        } catch (err) {
          // A token that took the key and still answers refused the tag (some report it as
          // CKR_GENERAL_ERROR): the record is bad, not the token.
          try {
            s.p.C_GetTokenInfo(s.slot);
            s.p.C_GetAttributeValue(s.handle, masterKey(s), [{ type: lib.CKA_LABEL }]);
          } catch {
            throw err;
          }
          throw failed();
        }
      });
      try {
        const dec = createDecipheriv("aes-256-gcm", dek, nonce).setAAD(aadBytes("data", aad)).setAuthTag(tag);
        return new Uint8Array(Buffer.concat([dec.update(ciphertext), dec.final()]));
      } catch {
        throw failed();
      }
    },
    async mac(purpose, message) {
      const mac = await token.run((s) => {
        const key = secretKey(s, MAC_KEY_LABEL, false);
        if (!key) throw new DomainError("key_unavailable", `token ${JSON.stringify(token.label)} no longer holds the audit MAC key (${MAC_KEY_LABEL})`);
        s.p.C_SignInit(s.handle, { mechanism: lib.CKM_SHA256_HMAC }, key);
        return s.p.C_Sign(s.handle, Buffer.from(`meshroot:v1:mac:${purpose}\n${message}`, "utf8"), Buffer.alloc(32));
      });
      return mac.toString("hex");
    },
  };
}

function aadBytes(part: string, aad: string): Buffer {
  return Buffer.from(`meshroot:v1:${part}:${aad}`, "utf8");
}

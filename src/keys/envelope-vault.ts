import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import type { KeyVault } from "../core/ports.js";
import { DomainError } from "../errors.js";
import { masterKeyMac } from "./checkpoint-key.js";

const MAGIC = Buffer.from("MRK1");
const KID_LEN = 8;
const NONCE_LEN = 12;
const TAG_LEN = 16;
const DEK_LEN = 32;
const HEADER_LEN = MAGIC.length + KID_LEN + NONCE_LEN + DEK_LEN + TAG_LEN + NONCE_LEN + TAG_LEN;

/**
 * The KeyVault of src/core/ports.ts: AES-256-GCM envelope encryption under a 32-byte master key. Each record gets a fresh data key and fresh
 * nonces; both the data and the wrapped data key are authenticated with the record identity as
 * additional data, so a ciphertext copied to another row fails to open.
 * Layout: "MRK1" | kid(8) | wrapNonce(12) | wrappedDek(32) | wrapTag(16) | nonce(12) | tag(16) | ciphertext.
 * Throws `config_invalid` when the key is not 32 bytes.
 */
export function envelopeVault(masterKey: Uint8Array): KeyVault {
  if (masterKey.length !== 32) {
    throw new DomainError("config_invalid", `the master key must be 32 bytes, got ${masterKey.length}`);
  }
  const kek = Buffer.from(masterKey);
  const kid = createHash("sha256").update(kek).digest().subarray(0, KID_LEN);
  const keyId = kid.toString("hex");

  return {
    keyId,
    mac: masterKeyMac(masterKey),
    async seal(plaintext, aad) {
      const dek = randomBytes(DEK_LEN);
      const wrapNonce = randomBytes(NONCE_LEN);
      const wrap = createCipheriv("aes-256-gcm", kek, wrapNonce).setAAD(aadBytes("dek", aad));
      const wrapped = Buffer.concat([wrap.update(dek), wrap.final()]);
      const nonce = randomBytes(NONCE_LEN);
      const enc = createCipheriv("aes-256-gcm", dek, nonce).setAAD(aadBytes("data", aad));
      const ciphertext = Buffer.concat([enc.update(plaintext), enc.final()]);
      return new Uint8Array(
        Buffer.concat([MAGIC, kid, wrapNonce, wrapped, wrap.getAuthTag(), nonce, enc.getAuthTag(), ciphertext]),
      );
    },
    async open(sealed, aad) {
      const buf = Buffer.from(sealed);
      if (buf.length < HEADER_LEN || !buf.subarray(0, MAGIC.length).equals(MAGIC)) {
        throw new DomainError("decryption_failed", `encrypted key for ${aad} is not a meshroot envelope`);
      }
      let at = MAGIC.length;
      const take = (n: number) => buf.subarray(at, (at += n));
      const recordKid = take(KID_LEN);
      if (!recordKid.equals(kid)) {
        throw new DomainError(
          "master_key_mismatch",
          `encrypted key for ${aad} was sealed under master key ${recordKid.toString("hex")}, but ${keyId} is loaded`,
        );
      }
      const wrapNonce = take(NONCE_LEN);
      const wrapped = take(DEK_LEN);
      const wrapTag = take(TAG_LEN);
      const nonce = take(NONCE_LEN);
      const tag = take(TAG_LEN);
      const ciphertext = buf.subarray(at);
      try {
        const unwrap = createDecipheriv("aes-256-gcm", kek, wrapNonce).setAAD(aadBytes("dek", aad)).setAuthTag(wrapTag);
        const dek = Buffer.concat([unwrap.update(wrapped), unwrap.final()]);
        const dec = createDecipheriv("aes-256-gcm", dek, nonce).setAAD(aadBytes("data", aad)).setAuthTag(tag);
        return new Uint8Array(Buffer.concat([dec.update(ciphertext), dec.final()]));
      } catch {
        throw new DomainError(
          "decryption_failed",
          `encrypted key for ${aad} failed authentication: it was altered or belongs to another record`,
        );
      }
    },
  };
}

function aadBytes(part: string, aad: string): Buffer {
  return Buffer.from(`meshroot:v1:${part}:${aad}`, "utf8");
}

/**
 * Decodes a master key given as base64 text (44 characters for 32 bytes) or, for a file, as
 * 32 raw bytes. Throws `config_invalid` naming `source` otherwise.
 */
export function decodeMasterKey(raw: Buffer | string, source: string): Uint8Array {
  if (typeof raw !== "string" && raw.length === 32) return new Uint8Array(raw);
  const text = (typeof raw === "string" ? raw : raw.toString("utf8")).trim();
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(text) ? Buffer.from(text, "base64") : Buffer.alloc(0);
  if (bytes.length !== 32) {
    throw new DomainError("config_invalid", `${source} must hold 32 bytes encoded as base64 (openssl rand -base64 32)`);
  }
  return new Uint8Array(bytes);
}

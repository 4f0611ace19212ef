import { createHmac, hkdfSync } from "node:crypto";

/**
 * MACs under keys derived from the master key, one per purpose (HKDF-SHA256, empty salt, info
 * "meshroot:v1:mac:<purpose>"): the audit checkpoints are signed with a key that is never in the
 * database and is not the key that seals CA keys.
 */
export function masterKeyMac(masterKey: Uint8Array): (purpose: string, message: string) => Promise<string> {
  const keys = new Map<string, Buffer>();
  return async (purpose, message) => {
    let key = keys.get(purpose);
    if (!key) {
      key = Buffer.from(hkdfSync("sha256", masterKey, Buffer.alloc(0), `meshroot:v1:mac:${purpose}`, 32));
      keys.set(purpose, key);
    }
    return createHmac("sha256", key).update(message, "utf8").digest("hex");
  };
}

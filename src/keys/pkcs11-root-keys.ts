import { createHash, randomBytes } from "node:crypto";
import type { HsmRootKeys, PendingRootKey } from "../core/ports.js";
import { DomainError } from "../errors.js";
import type { KeyAlgorithm } from "../x509/key-algorithms.js";
import type { Signer } from "../x509/signer.js";
import { ecdsaDer } from "../x509/der.js";
import { formatPkcs11Uri, parsePkcs11Uri, type Pkcs11Uri } from "./pkcs11-uri.js";
import { findObjects, keyAlgorithmOfObject, keyPairTemplates, requireMechanisms, spkiOfPublicKey, type Locator } from "./pkcs11-objects.js";
import type { Handle, Pkcs11Token, Session } from "./pkcs11-token.js";

/**
 * Root keys inside a PKCS#11 token. A key pair is generated in the token (token object, private,
 * sensitive, not extractable), used only through C_Sign, and named in the root's row by an RFC
 * 7512 URI: `pkcs11:token=<label>;id=<the root's serial>;object=meshroot-root-<serial>;type=private`.
 * No key bytes ever leave the token.
 */
export const PKCS11_LABEL_PREFIX = "meshroot-root-";
const PENDING_LABEL = "meshroot-root-pending";

/** RootKeys in a token, for keyStorage "pkcs11" and for keyRefs of the `pkcs11:` scheme. */
export function pkcs11RootKeys(token: Pkcs11Token): HsmRootKeys & { signerFor(keyRef: string, alg: KeyAlgorithm): Promise<Signer> } {
  const lib = token.lib;
  /** Private-key handles by locator, valid for one epoch of the module. */
  const handles = new Map<string, { epoch: number; handle: Handle }>();

  function privateKey(s: Session, at: Locator): Handle {
    const key = `${at.id ? Buffer.from(at.id).toString("hex") : ""}/${at.object ?? ""}`;
    const known = handles.get(key);
    if (known && known.epoch === s.epoch) return known.handle;
    const found = findObjects(s, lib, lib.CKO_PRIVATE_KEY, at);
    if (found.length === 0) {
      throw new DomainError("key_unavailable", `token ${JSON.stringify(token.label)} holds no private key ${formatPkcs11Uri({ token: token.label, ...at, type: "private" })}: it was deleted or the token was replaced; restore the key object from the HSM's backup`);
    }
    if (found.length > 1) throw new DomainError("key_unavailable", `${formatPkcs11Uri({ token: token.label, ...at })} names ${found.length} private keys in token ${JSON.stringify(token.label)}`);
    handles.set(key, { epoch: s.epoch, handle: found[0]! });
    return found[0]!;
  }

  function signer(at: () => Locator, alg: KeyAlgorithm, spki: Uint8Array): Signer {
    const ecdsa = alg.startsWith("ecdsa");
    const size = ecdsa ? (alg === "ecdsa-p256" ? 64 : 96) : Number(alg.slice(4)) / 8;
    return {
      keyAlgorithm: alg,
      spki,
      async sign(data) {
        // ECDSA: the token signs the digest (CKM_ECDSA); RSA: the token hashes (CKM_SHA256_RSA_PKCS).
        const input = ecdsa ? createHash(alg === "ecdsa-p384" ? "sha384" : "sha256").update(data).digest() : Buffer.from(data);
        const mechanism = ecdsa ? lib.CKM_ECDSA : lib.CKM_SHA256_RSA_PKCS;
        const signature = await token.run(async (s) => {
          s.p.C_SignInit(s.handle, { mechanism }, privateKey(s, at()));
          return s.p.C_SignAsync(s.handle, input, Buffer.alloc(size));
        });
        return ecdsa ? ecdsaDer(signature) : signature;
      },
    };
  }

  /** Reads what signerFor and adopt need of a private key: its algorithm, its public key, its id and label. */
  function describe(s: Session, at: Locator): { alg: KeyAlgorithm; spki: Uint8Array; id: Buffer; label: string } {
    const handle = privateKey(s, at);
    const [id, label] = s.p.C_GetAttributeValue(s.handle, handle, [{ type: lib.CKA_ID }, { type: lib.CKA_LABEL }]).map((a) => a.value);
    const alg = keyAlgorithmOfObject(s, lib, handle);
    const spki = spkiOfPublicKey(s, lib, handle, { id: id && id.length > 0 ? new Uint8Array(id) : undefined, object: at.object });
    return { alg, spki, id: id ?? Buffer.alloc(0), label: label?.toString("utf8") ?? "" };
  }

  function locatorOf(uri: Pkcs11Uri, field: string): Locator {
    if (uri.token !== undefined && uri.token !== token.label) {
      throw new DomainError("key_unavailable", `${field} names token ${JSON.stringify(uri.token)}, but meshroot uses token ${JSON.stringify(token.label)} (MESHROOT_PKCS11_TOKEN)`);
    }
    return { id: uri.id, object: uri.object };
  }

  return {
    async generate(alg) {
      await token.run((s) => requireMechanisms(s, lib, alg, token.label));
      let at: Locator = { id: new Uint8Array(randomBytes(20)), object: PENDING_LABEL };
      const { pub, priv, mechanism } = keyPairTemplates(lib, alg, at);
      const spki = await token.run(async (s) => {
        const pair = await s.p.C_GenerateKeyPairAsync(s.handle, { mechanism }, pub, priv);
        return spkiOfPublicKey(s, lib, pair.privateKey, at, pair.publicKey);
      });
      return {
        signer: signer(() => at, alg, spki),
        async bind(serial) {
          const next: Locator = { id: new Uint8Array(Buffer.from(serial.length % 2 ? `0${serial}` : serial, "hex")), object: `${PKCS11_LABEL_PREFIX}${serial}` };
          await token.run((s) => {
            const attrs = [{ type: lib.CKA_ID, value: Buffer.from(next.id!) }, { type: lib.CKA_LABEL, value: next.object! }];
            for (const cls of [lib.CKO_PRIVATE_KEY, lib.CKO_PUBLIC_KEY]) {
              for (const h of findObjects(s, lib, cls, at)) s.p.C_SetAttributeValue(s.handle, h, attrs);
            }
          });
          at = next;
          return formatPkcs11Uri({ token: token.label, ...next, type: "private" });
        },
      } satisfies PendingRootKey;
    },

    async adopt(keyUri, alg) {
      const at = locatorOf(parsePkcs11Uri(keyUri, "import.keyUri"), "import.keyUri");
      let found: ReturnType<typeof describe>;
      try {
        found = await token.run((s) => describe(s, at));
      } catch (err) {
        if (err instanceof DomainError && err.code === "key_unavailable") throw new DomainError("hsm_key_not_found", `import.keyUri: ${err.message}`);
        throw err;
      }
      if (found.alg !== alg) throw new DomainError("key_mismatch", `import.keyUri names a ${found.alg} key but the certificate's key is ${alg}`);
      const canonical: Locator = { id: found.id.length > 0 ? new Uint8Array(found.id) : undefined, object: found.label || undefined };
      return {
        signer: signer(() => canonical, alg, found.spki),
        bind: async () => formatPkcs11Uri({ token: token.label, ...canonical, type: "private" }),
      };
    },

    async signerFor(keyRef, alg) {
      let uri: Pkcs11Uri;
      try {
        uri = parsePkcs11Uri(keyRef, "key reference");
      } catch (err) {
        throw new DomainError("key_unavailable", `the root's key reference ${keyRef.slice(0, 80)} is not one this meshroot can use: ${(err as Error).message}`);
      }
      const at = locatorOf(uri, "the root's key reference");
      const found = await token.run((s) => describe(s, at));
      if (found.alg !== alg) throw new DomainError("key_unavailable", `${keyRef} is a ${found.alg} key, the root's is ${alg}`);
      return signer(() => at, alg, found.spki);
    },
  };
}

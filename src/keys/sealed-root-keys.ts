import type { KeyVault, PendingRootKey, RootKeys } from "../core/ports.js";
import { DomainError } from "../errors.js";
import type { KeyAlgorithm } from "../x509/key-algorithms.js";
import { generateKeyPairDer, spkiOfPkcs8 } from "../x509/private-keys.js";
import { pkcs8Signer } from "../x509/signer.js";

/**
 * Root keys sealed under the master key (the KeyVault), stored in the root's row as a key
 * reference: `sealed:<aad>:<hex of the envelope>`, where the AAD binds the envelope to its row
 * (`root:<serial>`) so that a reference copied to another row fails to open. The key is opened
 * only here, held as a node:crypto KeyObject inside a Signer, and handed out only as that Signer.
 */
export const SEALED_SCHEME = "sealed:";

/** The AAD that binds a root's sealed key to its row. */
export const rootKeyAad = (serial: string) => `root:${serial}`;

/** Parses a `sealed:` key reference; throws `key_unavailable` for anything else. */
export function parseSealedRef(keyRef: string): { aad: string; sealed: Uint8Array } {
  const at = keyRef.lastIndexOf(":");
  const aad = keyRef.slice(SEALED_SCHEME.length, at);
  const hex = keyRef.slice(at + 1);
  if (!keyRef.startsWith(SEALED_SCHEME) || !aad || !/^(?:[0-9a-f]{2})+$/.test(hex)) {
    throw new DomainError("key_unavailable", `key reference ${keyRef.slice(0, 40)}… is not a sealed key this meshroot can use`);
  }
  return { aad, sealed: new Uint8Array(Buffer.from(hex, "hex")) };
}

/** RootKeys over a KeyVault. */
export function sealedRootKeys(vault: KeyVault): RootKeys {
  function pending(pkcs8: Uint8Array<ArrayBuffer>, spki: Uint8Array, alg: KeyAlgorithm): Promise<PendingRootKey> {
    return Promise.resolve({
      signer: pkcs8Signer(pkcs8, alg, spki),
      async bind(serial) {
        const aad = rootKeyAad(serial);
        return `${SEALED_SCHEME}${aad}:${Buffer.from(await vault.seal(pkcs8, aad)).toString("hex")}`;
      },
    });
  }
  return {
    async generate(alg) {
      const { spki, pkcs8 } = await generateKeyPairDer(alg);
      return pending(pkcs8, spki, alg);
    },
    async importPkcs8(pkcs8, alg) {
      return pending(pkcs8, spkiOfPkcs8(pkcs8), alg);
    },
    async signerFor(keyRef, alg) {
      const { aad, sealed } = parseSealedRef(keyRef);
      const pkcs8 = await vault.open(sealed, aad);
      return pkcs8Signer(pkcs8, alg, spkiOfPkcs8(pkcs8));
    },
  };
}

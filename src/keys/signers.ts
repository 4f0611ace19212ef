import * as x509 from "@peculiar/x509";
import { DomainError } from "../errors.js";
import type { SigningRoot } from "../x509/certificates.js";
import { importPkcs8 } from "./key-pairs.js";
import type { KeyVault } from "./envelope-vault.js";
import type { IntermediateRecord, RootRecord } from "../core/ports.js";

/** The AAD that binds a root's sealed key to its row. */
export function rootKeyAad(serial: string): string {
  return `root:${serial}`;
}

/** The AAD that binds an intermediate's sealed key to its row. */
export function intermediateKeyAad(serial: string): string {
  return `intermediate:${serial}`;
}

/**
 * Unsealed signing keys (roots; intermediates with escrowed keys), imported once and kept as
 * non-extractable CryptoKeys. A key never changes for a serial, so the cache needs no invalidation.
 */
export function signerCache({ vault, crypto }: { vault: KeyVault; crypto: Crypto }) {
  const cache = new Map<string, Promise<SigningRoot>>();

  function load(serial: string, make: () => Promise<SigningRoot>): Promise<SigningRoot> {
    let signer = cache.get(serial);
    if (!signer) {
      signer = make();
      signer.catch(() => cache.delete(serial));
      cache.set(serial, signer);
    }
    return signer;
  }

  return {
    root(root: RootRecord): Promise<SigningRoot> {
      return load(root.serial, async () => {
        const cert = new x509.X509Certificate(root.certPem);
        return {
          cert,
          keyAlgorithm: root.keyAlgorithm,
          keyId: root.keyId,
          privateKey: await importPkcs8(crypto, await vault.open(root.sealedKey, rootKeyAad(root.serial)), root.keyAlgorithm),
          subjectDer: new Uint8Array(cert.subjectName.toArrayBuffer()),
        };
      });
    },
    /** Throws `external_custody` for an intermediate whose key meshroot does not hold. */
    intermediate(rec: IntermediateRecord): Promise<SigningRoot> {
      const sealed = rec.sealedKey;
      if (!sealed) throw new DomainError("external_custody", `intermediate ${rec.serial} has an external key`);
      return load(rec.serial, async () => {
        const cert = new x509.X509Certificate(rec.certPem);
        return {
          cert,
          keyAlgorithm: rec.keyAlgorithm,
          keyId: cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? "",
          privateKey: await importPkcs8(crypto, await vault.open(sealed, intermediateKeyAad(rec.serial)), rec.keyAlgorithm),
          subjectDer: new Uint8Array(cert.subjectName.toArrayBuffer()),
        };
      });
    },
  };
}

export type SignerCache = ReturnType<typeof signerCache>;

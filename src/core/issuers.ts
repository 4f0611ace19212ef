import * as x509 from "@peculiar/x509";
import { DomainError } from "../errors.js";
import { subjectKeyId, type Issuer } from "../x509/certificates.js";
import { subjectAndSpki } from "../x509/certificate-fields.js";
import { parseSinglePem } from "../x509/pem.js";
import { pkcs8Signer } from "../x509/signer.js";
import type { IntermediateRecord, KeyVault, RootKeys, RootRecord } from "./ports.js";

/** A root as an issuer, with the organization its intermediates carry. */
export interface RootIssuer extends Issuer {
  organization: string;
}

/** The AAD that binds an intermediate's sealed key to its row. */
export function intermediateKeyAad(serial: string): string {
  return `intermediate:${serial}`;
}

/**
 * The issuers that sign: roots through RootKeys (by key reference — the core never sees a root
 * key), escrowed intermediates (for their CRLs) through the vault. Each is made once per serial
 * and kept: a key never changes for a serial, so the cache needs no invalidation.
 */
export function issuerCache({ rootKeys, vault }: { rootKeys: RootKeys; vault: KeyVault }) {
  const cache = new Map<string, Promise<RootIssuer>>();

  function load(serial: string, make: () => Promise<RootIssuer>): Promise<RootIssuer> {
    let issuer = cache.get(serial);
    if (!issuer) {
      issuer = make();
      issuer.catch(() => cache.delete(serial));
      cache.set(serial, issuer);
    }
    return issuer;
  }

  function describe(certPem: string): { cert: x509.X509Certificate; subjectDer: Uint8Array; keyId: string; organization: string } {
    const cert = new x509.X509Certificate(certPem);
    return { cert, subjectDer: new Uint8Array(cert.subjectName.toArrayBuffer()), keyId: subjectKeyId(cert), organization: cert.subjectName.getField("O")[0] ?? "meshroot" };
  }

  return {
    /**
     * Keeps the issuer of an escrowed intermediate just issued, whose key is still in memory: its
     * CRLs are then signed without opening and importing the sealed key.
     */
    seedIntermediate(serial: string, issuer: Issuer): void {
      if (!cache.has(serial)) cache.set(serial, Promise.resolve({ ...issuer, organization: "" }));
    },
    /** Throws the RootKeys errors, and `key_unavailable` when the key is not the certificate's. */
    root(root: RootRecord): Promise<RootIssuer> {
      return load(root.serial, async () => {
        const { cert, ...issuer } = describe(root.certPem);
        const signer = await rootKeys.signerFor(root.keyRef, root.keyAlgorithm);
        if (!Buffer.from(signer.spki).equals(Buffer.from(cert.publicKey.rawData))) {
          throw new DomainError("key_unavailable", `the key behind root ${root.serial}'s key reference is not the root certificate's key`);
        }
        return { ...issuer, signer };
      });
    },
    /** Throws `external_custody` for an intermediate whose key meshroot does not hold. */
    intermediate(rec: IntermediateRecord): Promise<Issuer> {
      const sealed = rec.sealedKey;
      if (!sealed) throw new DomainError("external_custody", `intermediate ${rec.serial} has an external key`);
      return load(rec.serial, async () => {
        const pkcs8 = await vault.open(sealed, intermediateKeyAad(rec.serial));
        if (rec.keyId) {
          // Rows issued since the key identifier is stored: the subject and key read straight from the DER.
          const { subjectDer, spki } = subjectAndSpki(parseSinglePem(rec.certPem, "certPem", ["CERTIFICATE"]).der);
          return { subjectDer, keyId: rec.keyId, organization: "", signer: pkcs8Signer(pkcs8, rec.keyAlgorithm, spki) };
        }
        const { cert, ...issuer } = describe(rec.certPem);
        return { ...issuer, signer: pkcs8Signer(pkcs8, rec.keyAlgorithm, new Uint8Array(cert.publicKey.rawData)) };
      });
    },
  };
}

export type IssuerCache = ReturnType<typeof issuerCache>;

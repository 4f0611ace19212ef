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
 * How many escrowed intermediates' issuers are kept, least recently used first out: a trust
 * domain's live intermediates (about two per cluster) sign their CRLs again every half validity,
 * and every rotation adds one, so an unbounded cache would grow for as long as the server runs.
 */
export const MAX_CACHED_INTERMEDIATES = 8192;

/**
 * The issuers that sign: roots through RootKeys (by key reference — the core never sees a root
 * key), escrowed intermediates (for their CRLs) through the vault. Each is made once per serial
 * and kept (a key never changes for a serial, so the cache needs no invalidation): every root,
 * and the `maxIntermediates` intermediates used last; an intermediate dropped is opened from
 * the vault again when it next signs.
 */
export function issuerCache({ rootKeys, vault, maxIntermediates = MAX_CACHED_INTERMEDIATES }: { rootKeys: RootKeys; vault: KeyVault; maxIntermediates?: number }) {
  const roots = new Map<string, Promise<RootIssuer>>();
  /** In order of last use, oldest first (a Map keeps insertion order). */
  const intermediates = new Map<string, Promise<RootIssuer>>();

  /** The cached issuer of `serial`, or the one `make` gives; `keep` stores it (again, on a hit); a failed one is dropped. */
  function load(
    cache: Map<string, Promise<RootIssuer>>,
    keep: (serial: string, issuer: Promise<RootIssuer>) => void,
    serial: string,
    make: () => Promise<RootIssuer>,
  ): Promise<RootIssuer> {
    const cached = cache.get(serial);
    if (cached) {
      keep(serial, cached);
      return cached;
    }
    const made = make();
    made.catch(() => {
      if (cache.get(serial) === made) cache.delete(serial);
    });
    keep(serial, made);
    return made;
  }

  /** Marks an intermediate used last, dropping the least recently used beyond the bound. */
  function touch(serial: string, issuer: Promise<RootIssuer>): void {
    intermediates.delete(serial);
    intermediates.set(serial, issuer);
    while (intermediates.size > maxIntermediates) intermediates.delete(intermediates.keys().next().value!);
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
      if (!intermediates.has(serial)) touch(serial, Promise.resolve({ ...issuer, organization: "" }));
    },
    /** Throws the RootKeys errors, and `key_unavailable` when the key is not the certificate's. */
    root(root: RootRecord): Promise<RootIssuer> {
      return load(roots, (serial, issuer) => roots.set(serial, issuer), root.serial, async () => {
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
      return load(intermediates, touch, rec.serial, async () => {
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

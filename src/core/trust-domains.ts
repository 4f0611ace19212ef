import type { Clock } from "../clock.js";
import { DAY_MS } from "../clock.js";
import { DomainError } from "../errors.js";
import { certPem, fingerprintSha256, signRoot, subjectKeyId } from "../x509/certificates.js";
import { DEFAULT_KEY_ALGORITHM, type KeyAlgorithm } from "../x509/key-algorithms.js";
import { auditInput, type AuditContext } from "./audit.js";
import type { Observer, Page, RootKeys, RootRecord, Store, TrustDomainRecord } from "./ports.js";
import { validateImportedRoot } from "./root-import.js";

export const DEFAULT_ORGANIZATION = "meshroot";
export const DEFAULT_ROOT_VALIDITY_DAYS = 3650;

export interface CreateTrustDomainInput {
  name: string;
  root?: { keyAlgorithm?: KeyAlgorithm | undefined; validityDays?: number | undefined; organization?: string | undefined } | undefined;
  import?: { certificatePem: string; privateKeyPem: string } | undefined;
}

export interface TrustDomainWithRoots {
  domain: TrustDomainRecord;
  roots: RootRecord[];
}

/** A created trust domain, with what the caller should know about its root (empty when nothing). */
export interface CreatedTrustDomain extends TrustDomainWithRoots {
  warnings: string[];
}

type Deps = {
  store: Pick<Store, "createTrustDomain" | "getTrustDomain" | "listTrustDomains" | "listRoots" | "findRootByFingerprint">;
  rootKeys: RootKeys;
  crypto: Crypto;
  clock: Clock;
  observer: Pick<Observer, "bundleChanged">;
};

/** Trust domains and their roots. */
export function trustDomainService({ store, rootKeys, crypto, clock, observer }: Deps) {
  async function get(name: string): Promise<TrustDomainWithRoots> {
    const domain = await store.getTrustDomain(name);
    if (!domain) throw new DomainError("trust_domain_not_found", `trust domain ${name} does not exist`);
    return { domain, roots: await store.listRoots(name) };
  }

  return {
    /**
     * Creates a trust domain with a generated root (ecdsa-p256, 10 years, organization
     * "meshroot" by default) or an imported one. Throws `trust_domain_exists`, `root_in_use`
     * (the imported root already serves another trust domain) and the errors of root import.
     */
    async create(input: CreateTrustDomainInput, ctx: AuditContext): Promise<CreatedTrustDomain> {
      if (await store.getTrustDomain(input.name)) {
        throw new DomainError("trust_domain_exists", `trust domain ${input.name} already exists`);
      }
      const now = clock.now();
      let organization = input.root?.organization ?? DEFAULT_ORGANIZATION;
      let cert: import("@peculiar/x509").X509Certificate;
      let keyAlgorithm: KeyAlgorithm;
      let key: Awaited<ReturnType<RootKeys["generate"]>>;
      let warnings: string[] = [];
      if (input.import) {
        const imported = await validateImportedRoot(input.import, now, crypto);
        const other = await store.findRootByFingerprint(fingerprintSha256(imported.cert));
        if (other) throw new DomainError("root_in_use", `this root certificate already serves trust domain ${other.trustDomain}; a root can serve only one`);
        warnings = imported.warnings;
        organization = imported.cert.subjectName.getField("O")[0] ?? DEFAULT_ORGANIZATION;
        ({ cert, keyAlgorithm } = imported);
        key = await rootKeys.importPkcs8(imported.pkcs8, keyAlgorithm);
      } else {
        keyAlgorithm = input.root?.keyAlgorithm ?? DEFAULT_KEY_ALGORITHM;
        key = await rootKeys.generate(keyAlgorithm);
        const validityDays = input.root?.validityDays ?? DEFAULT_ROOT_VALIDITY_DAYS;
        const t = Math.floor(now.getTime() / 1000) * 1000;
        cert = await signRoot({ trustDomain: input.name, organization, notBefore: new Date(t - 60_000), notAfter: new Date(t + validityDays * DAY_MS), signer: key.signer });
      }
      const root = describeRoot(input.name, cert, keyAlgorithm, input.import !== undefined, now);
      const record: RootRecord = { ...root, keyRef: await key.bind(root.serial) };
      const domain: TrustDomainRecord = { name: input.name, organization, createdAt: now };
      await store.createTrustDomain(
        domain,
        record,
        auditInput(ctx, now, "trust_domain.create", { type: "trust_domain", id: domain.name }, { trustDomain: domain.name }, {
          rootSerial: record.serial,
          imported: record.imported,
          keyAlgorithm: record.keyAlgorithm,
          notAfter: record.notAfter.toISOString(),
          fingerprintSha256: record.fingerprintSha256,
        }),
      );
      observer.bundleChanged(input.name);
      return { domain, roots: [record], warnings };
    },

    /** A trust domain and its roots; throws `trust_domain_not_found`. */
    get,

    list: (page: Page) => store.listTrustDomains(page),
    listRoots: (name: string) => store.listRoots(name),

    /** The PEM trust bundle: every root not retired, oldest first; throws `trust_domain_not_found`. */
    bundlePem: async (name: string): Promise<string> => trustBundle((await get(name)).roots).join(""),
  };
}

export type TrustDomainService = ReturnType<typeof trustDomainService>;

/** PEMs of the roots a trust domain trusts, in an unchanging order (oldest generation first). */
export function trustBundle(roots: RootRecord[]): string[] {
  return roots
    .filter((r) => r.status !== "retired")
    .sort((a, b) => a.generation - b.generation)
    .map((r) => r.certPem);
}

function describeRoot(
  trustDomain: string,
  cert: import("@peculiar/x509").X509Certificate,
  keyAlgorithm: KeyAlgorithm,
  imported: boolean,
  now: Date,
): Omit<RootRecord, "keyRef"> {
  return {
    serial: cert.serialNumber.toLowerCase(),
    trustDomain,
    generation: 1,
    status: "active",
    imported,
    keyAlgorithm,
    keyId: subjectKeyId(cert),
    certPem: certPem(cert),
    fingerprintSha256: fingerprintSha256(cert),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    createdAt: now,
  };
}

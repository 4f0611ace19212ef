import type { Clock } from "../clock.js";
import { DomainError } from "../errors.js";
import { auditInput, type AuditContext } from "./audit.js";
import { DEFAULT_ORGANIZATION, newRoot, type NewRootInput } from "./new-root.js";
import type { Observer, Page, RootKeys, RootRecord, Store, TrustDomainRecord } from "./ports.js";
import { bundlePem, trustedRoots } from "./root-rotation-plan.js";

export { DEFAULT_ORGANIZATION, DEFAULT_ROOT_VALIDITY_DAYS } from "./new-root.js";

export interface CreateTrustDomainInput extends NewRootInput {
  name: string;
  /** Its clusters load ca-crl.pem: stage rotations (default false). */
  caCrl?: boolean | undefined;
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
  store: Pick<Store, "createTrustDomain" | "getTrustDomain" | "listTrustDomains" | "listRoots" | "findRootByFingerprint" | "latestRootRotation" | "updateTrustDomain">;
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
      const { record, organization, warnings } = await newRoot({ store, rootKeys, crypto }, input.name, 1, input, DEFAULT_ORGANIZATION, now);
      const domain: TrustDomainRecord = { name: input.name, organization, caCrl: input.caCrl ?? false, createdAt: now };
      await store.createTrustDomain(
        domain,
        record,
        auditInput(ctx, now, "trust_domain.create", { type: "trust_domain", id: domain.name }, { trustDomain: domain.name }, {
          rootSerial: record.serial,
          imported: record.imported,
          keyAlgorithm: record.keyAlgorithm,
          notAfter: record.notAfter.toISOString(),
          fingerprintSha256: record.fingerprintSha256,
          caCrl: domain.caCrl,
        }),
      );
      observer.bundleChanged(input.name);
      return { domain, roots: [record], warnings };
    },

    /** A trust domain and its roots; throws `trust_domain_not_found`. */
    get,

    /** Changes a trust domain's settings (audited); throws `trust_domain_not_found`. */
    async update(name: string, update: { caCrl: boolean }, ctx: AuditContext): Promise<TrustDomainWithRoots> {
      const before = await get(name);
      const domain = await store.updateTrustDomain(
        name,
        update,
        auditInput(ctx, clock.now(), "trust_domain.update", { type: "trust_domain", id: name }, { trustDomain: name }, { caCrl: { from: before.domain.caCrl, to: update.caCrl } }),
      );
      if (!domain) throw new DomainError("trust_domain_not_found", `trust domain ${name} does not exist`);
      return { domain, roots: before.roots };
    },

    list: (page: Page) => store.listTrustDomains(page),
    listRoots: (name: string) => store.listRoots(name),

    /**
     * The PEM trust bundle: the trusted roots, oldest first (both roots while a root rotation
     * trusts both, root-rotation-plan.ts); throws `trust_domain_not_found`.
     */
    bundlePem: async (name: string): Promise<string> => {
      const { roots } = await get(name);
      return bundlePem(trustedRoots(roots, await store.latestRootRotation(name)));
    },
  };
}

export type TrustDomainService = ReturnType<typeof trustDomainService>;

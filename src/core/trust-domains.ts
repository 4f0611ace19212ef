import type { Clock } from "../clock.js";
import { DAY_MS } from "../clock.js";
import { DomainError } from "../errors.js";
import { auditInput, type AuditContext } from "./audit.js";
import { certPem, fingerprintSha256, signRoot, subjectKeyId } from "../x509/certificates.js";
import { DEFAULT_KEY_ALGORITHM, type KeyAlgorithm } from "../x509/key-algorithms.js";
import { exportPkcs8, generateKeyPair } from "../keys/key-pairs.js";
import type { KeyVault } from "../keys/envelope-vault.js";
import { validateImportedRoot } from "./root-import.js";
import { rootKeyAad } from "../keys/signers.js";
import { ttlCache } from "../http/ttl-cache.js";
import type { Page, RootRecord, Store, TrustDomainRecord } from "./ports.js";

export const DEFAULT_ORGANIZATION = "meshroot";
export const DEFAULT_ROOT_VALIDITY_DAYS = 3650;
/** How stale a public read (bundle, CRL) may be when another process changed it. */
export const PUBLIC_CACHE_MS = 1000;

export interface CreateTrustDomainInput {
  name: string;
  root?: { keyAlgorithm?: KeyAlgorithm | undefined; validityDays?: number | undefined; organization?: string | undefined } | undefined;
  import?: { certificatePem: string; privateKeyPem: string } | undefined;
}

export interface TrustDomainWithRoots {
  domain: TrustDomainRecord;
  roots: RootRecord[];
}

type Deps = {
  store: Pick<Store, "createTrustDomain" | "getTrustDomain" | "listTrustDomains" | "listRoots">;
  vault: KeyVault;
  crypto: Crypto;
  clock: Clock;
};

/** Trust domains and their roots. */
export function trustDomainService({ store, vault, crypto, clock }: Deps) {
  const bundles = ttlCache<string>(clock, PUBLIC_CACHE_MS);

  async function get(name: string): Promise<TrustDomainWithRoots> {
    const domain = await store.getTrustDomain(name);
    if (!domain) throw new DomainError("trust_domain_not_found", `trust domain ${name} does not exist`);
    return { domain, roots: await store.listRoots(name) };
  }

  return {
    /**
     * Creates a trust domain with a generated root (ecdsa-p256, 10 years, organization
     * "meshroot" by default) or an imported one. Throws `trust_domain_exists` and the errors of
     * root import.
     */
    async create(input: CreateTrustDomainInput, ctx: AuditContext): Promise<TrustDomainWithRoots> {
      if (await store.getTrustDomain(input.name)) {
        throw new DomainError("trust_domain_exists", `trust domain ${input.name} already exists`);
      }
      const now = clock.now();
      let root: Omit<RootRecord, "sealedKey">;
      let pkcs8: Uint8Array;
      let organization = input.root?.organization ?? DEFAULT_ORGANIZATION;
      if (input.import) {
        const imported = await validateImportedRoot(input.import, now, crypto);
        organization = imported.cert.subjectName.getField("O")[0] ?? DEFAULT_ORGANIZATION;
        pkcs8 = imported.pkcs8;
        root = describeRoot(input.name, imported.cert, imported.keyAlgorithm, true, now);
        // A root without a SKI still gets a key id, computed the RFC 5280 way, for the AKI it signs.
        if (!root.keyId) root.keyId = Buffer.from(await imported.cert.publicKey.getKeyIdentifier(crypto)).toString("hex");
      } else {
        const keyAlgorithm = input.root?.keyAlgorithm ?? DEFAULT_KEY_ALGORITHM;
        const keys = await generateKeyPair(crypto, keyAlgorithm);
        const validityDays = input.root?.validityDays ?? DEFAULT_ROOT_VALIDITY_DAYS;
        const signed = await signRoot(
          {
            trustDomain: input.name,
            organization,
            keyAlgorithm,
            keys,
            notBefore: new Date(Math.floor(now.getTime() / 1000) * 1000 - 60_000),
            notAfter: new Date(Math.floor(now.getTime() / 1000) * 1000 + validityDays * DAY_MS),
          },
          crypto,
        );
        pkcs8 = await exportPkcs8(crypto, keys.privateKey);
        root = describeRoot(input.name, signed.cert, keyAlgorithm, false, now);
      }
      const record: RootRecord = { ...root, sealedKey: await vault.seal(pkcs8, rootKeyAad(root.serial)) };
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
      bundles.clear(input.name);
      return { domain, roots: [record] };
    },

    /** A trust domain and its roots; throws `trust_domain_not_found`. */
    get,

    list: (page: Page) => store.listTrustDomains(page),
    listRoots: (name: string) => store.listRoots(name),

    /** The PEM trust bundle: every root not retired, oldest first; throws `trust_domain_not_found`. */
    bundlePem(name: string): Promise<string> {
      return bundles.get(name, async () => trustBundle((await get(name)).roots).join(""));
    },
    /** The bundle bundlePem computed less than a second ago, if any (no waiting, no lookup). */
    cachedBundlePem: (name: string): string | undefined => bundles.peek(name),
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
): Omit<RootRecord, "sealedKey"> {
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

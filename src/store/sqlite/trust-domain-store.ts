import type { AuditInput } from "../../core/audit.js";
import type { RootRecord, TrustDomainRecord, TrustDomainStore } from "../../core/ports.js";
import type { AuditAppender } from "./audit-store.js";
import { DomainError } from "../../errors.js";
import { isUniqueViolation, type Db } from "./database.js";

interface RootRow {
  serial: string;
  trust_domain: string;
  generation: number;
  status: RootRecord["status"];
  imported: number;
  key_algorithm: RootRecord["keyAlgorithm"];
  key_id: string;
  cert_pem: string;
  key_ref: string;
  fingerprint_sha256: string;
  not_before: number;
  not_after: number;
  created_at: number;
}

interface DomainRow {
  name: string;
  organization: string;
  ca_crl: number;
  created_at: number;
}

const toDomain = (r: DomainRow): TrustDomainRecord => ({ name: r.name, organization: r.organization, caCrl: r.ca_crl === 1, createdAt: new Date(r.created_at) });

const toRoot = (r: RootRow): RootRecord => ({
  serial: r.serial,
  trustDomain: r.trust_domain,
  generation: r.generation,
  status: r.status,
  imported: r.imported === 1,
  keyAlgorithm: r.key_algorithm,
  keyId: r.key_id,
  certPem: r.cert_pem,
  keyRef: r.key_ref,
  fingerprintSha256: r.fingerprint_sha256,
  notBefore: new Date(r.not_before),
  notAfter: new Date(r.not_after),
  createdAt: new Date(r.created_at),
});

/** Trust domains and roots in SQLite. */
export function sqliteTrustDomainStore(db: Db, append: AuditAppender): TrustDomainStore {
  const insertDomain = db.prepare("INSERT INTO trust_domains (name, organization, ca_crl, created_at) VALUES (@name, @organization, @caCrl, @createdAt)");
  const updateDomain = db.prepare("UPDATE trust_domains SET ca_crl = @caCrl WHERE name = @name");
  const insertRoot = db.prepare(`INSERT INTO roots (serial, trust_domain, generation, status, imported, key_algorithm, key_id,
      cert_pem, key_ref, fingerprint_sha256, not_before, not_after, created_at)
    VALUES (@serial, @trustDomain, @generation, @status, @imported, @keyAlgorithm, @keyId,
      @certPem, @keyRef, @fingerprintSha256, @notBefore, @notAfter, @createdAt)`);
  const selectDomain = db.prepare("SELECT * FROM trust_domains WHERE name = ?");
  const selectDomains = db.prepare("SELECT * FROM trust_domains WHERE name > @after ORDER BY name LIMIT @limit");
  const selectRoots = db.prepare("SELECT * FROM roots WHERE trust_domain = ? ORDER BY generation");
  const selectRootByFingerprint = db.prepare("SELECT * FROM roots WHERE fingerprint_sha256 = ?");

  const create = db.transaction((domain: TrustDomainRecord, root: RootRecord, audit: AuditInput) => {
    insertDomain.run({ name: domain.name, organization: domain.organization, caCrl: domain.caCrl ? 1 : 0, createdAt: domain.createdAt.getTime() });
    insertRoot.run({
      ...root,
      imported: root.imported ? 1 : 0,
      notBefore: root.notBefore.getTime(),
      notAfter: root.notAfter.getTime(),
      createdAt: root.createdAt.getTime(),
    });
    append(audit);
  });

  const update = db.transaction((name: string, caCrl: boolean, audit: AuditInput): DomainRow | undefined => {
    if (updateDomain.run({ name, caCrl: caCrl ? 1 : 0 }).changes !== 1) return undefined;
    append(audit);
    return selectDomain.get(name) as DomainRow;
  });

  return {
    async updateTrustDomain(name, { caCrl }, audit) {
      const row = update.immediate(name, caCrl, audit);
      return row && toDomain(row);
    },
    async createTrustDomain(domain, root, audit) {
      try {
        create.immediate(domain, root, audit);
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // The roots' serial and fingerprint are unique too: say which one a racing writer took.
        const other = selectRootByFingerprint.get(root.fingerprintSha256) as RootRow | undefined;
        if (other && !selectDomain.get(domain.name)) {
          throw new DomainError("root_in_use", `this root certificate already serves trust domain ${other.trust_domain}`);
        }
        throw new DomainError("trust_domain_exists", `trust domain ${domain.name} already exists`);
      }
    },
    async getTrustDomain(name) {
      const row = selectDomain.get(name) as DomainRow | undefined;
      return row && toDomain(row);
    },
    async listTrustDomains(page) {
      return (selectDomains.all({ after: page.after ?? "", limit: page.limit }) as DomainRow[]).map(toDomain);
    },
    async listRoots(trustDomain) {
      return (selectRoots.all(trustDomain) as RootRow[]).map(toRoot);
    },
    async findRootByFingerprint(fingerprintSha256) {
      const row = selectRootByFingerprint.get(fingerprintSha256) as RootRow | undefined;
      return row && toRoot(row);
    },
  };
}

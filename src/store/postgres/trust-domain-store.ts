import type { RootRecord, TrustDomainRecord, TrustDomainStore } from "../../core/ports.js";
import { DomainError } from "../../errors.js";
import { appendAudit } from "./audit-store.js";
import { isUniqueViolation, type PgDb, type Sql } from "./pool.js";

export interface RootRow {
  serial: string;
  trust_domain: string;
  generation: number;
  status: RootRecord["status"];
  imported: boolean;
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
  ca_crl: boolean;
  created_at: number;
}

const toDomain = (r: DomainRow): TrustDomainRecord => ({ name: r.name, organization: r.organization, caCrl: r.ca_crl, createdAt: new Date(r.created_at) });

export const toRoot = (r: RootRow): RootRecord => ({
  serial: r.serial,
  trustDomain: r.trust_domain,
  generation: r.generation,
  status: r.status,
  imported: r.imported,
  keyAlgorithm: r.key_algorithm,
  keyId: r.key_id,
  certPem: r.cert_pem,
  keyRef: r.key_ref,
  fingerprintSha256: r.fingerprint_sha256,
  notBefore: new Date(r.not_before),
  notAfter: new Date(r.not_after),
  createdAt: new Date(r.created_at),
});

/** Inserts a root inside the caller's transaction (trust domain creation, root rotation). */
export async function insertRoot(c: Sql, root: RootRecord): Promise<void> {
  await c.query(
    `INSERT INTO roots (serial, trust_domain, generation, status, imported, key_algorithm, key_id, cert_pem, key_ref, fingerprint_sha256, not_before, not_after, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [root.serial, root.trustDomain, root.generation, root.status, root.imported, root.keyAlgorithm, root.keyId, root.certPem, root.keyRef, root.fingerprintSha256,
      root.notBefore.getTime(), root.notAfter.getTime(), root.createdAt.getTime()],
  );
}

/** Trust domains and roots in PostgreSQL. */
export function postgresTrustDomainStore(db: PgDb): TrustDomainStore {
  const q = db.sql;
  const selectDomain = async (name: string) => (await db.read.query<DomainRow>("SELECT * FROM trust_domains WHERE name = $1", [name])).rows[0];
  const rootByFingerprint = async (fp: string) => (await q.query<RootRow>("SELECT * FROM roots WHERE fingerprint_sha256 = $1", [fp])).rows[0];
  return {
    async updateTrustDomain(name, { caCrl }, audit) {
      const row = await db.tx(async (c) => {
        const { rows } = await c.query<DomainRow>("UPDATE trust_domains SET ca_crl = $2 WHERE name = $1 RETURNING *", [name, caCrl]);
        if (rows.length !== 1) return undefined;
        await appendAudit(c, audit);
        return rows[0];
      });
      return row && toDomain(row);
    },
    async createTrustDomain(domain, root, audit) {
      try {
        await db.tx(async (c) => {
          await c.query("INSERT INTO trust_domains (name, organization, ca_crl, created_at) VALUES ($1, $2, $3, $4)", [domain.name, domain.organization, domain.caCrl, domain.createdAt.getTime()]);
          await insertRoot(c, root);
          await appendAudit(c, audit);
        });
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // The roots' serial and fingerprint are unique too: say which one a racing writer took.
        const other = await rootByFingerprint(root.fingerprintSha256);
        if (other && !(await selectDomain(domain.name))) {
          throw new DomainError("root_in_use", `this root certificate already serves trust domain ${other.trust_domain}`);
        }
        throw new DomainError("trust_domain_exists", `trust domain ${domain.name} already exists`);
      }
    },
    async getTrustDomain(name) {
      const row = await selectDomain(name);
      return row && toDomain(row);
    },
    async listTrustDomains(page) {
      const { rows } = await q.query<DomainRow>(`SELECT * FROM trust_domains WHERE name > $1 ORDER BY name LIMIT $2`, [page.after ?? "", page.limit]);
      return rows.map(toDomain);
    },
    async listRoots(trustDomain) {
      return (await db.read.query<RootRow>("SELECT * FROM roots WHERE trust_domain = $1 ORDER BY generation", [trustDomain])).rows.map(toRoot);
    },
    async findRootByFingerprint(fp) {
      const row = await rootByFingerprint(fp);
      return row && toRoot(row);
    },
  };
}

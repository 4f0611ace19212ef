import { randomBytes } from "node:crypto";
import { systemContext } from "../src/core/audit.js";
import type { Core } from "../src/core/core.js";
import { auditAppender } from "../src/store/sqlite/audit-store.js";
import type { Db } from "../src/store/sqlite/database.js";

const CTX = systemContext("bench");

/**
 * Inserts `count` intermediates spread over `clusters` clusters straight into the database
 * (one real certificate PEM reused; distinct serials), a fifth of them revoked. For inventory
 * and CRL figures at scale.
 */
export async function seedIntermediates(db: Db, core: Core, trustDomain: string, clusters: number, count: number): Promise<void> {
  for (let c = 0; c < clusters; c++) await core.clusters.register({ name: `s${c}`, trustDomain, policy: { validityDays: 365 } }, CTX);
  const sample = await core.issuance.issue("s0", {}, CTX);
  const r = sample.record;
  const insert = db.prepare(`INSERT INTO intermediates (serial, cluster, trust_domain, root_serial, generation, status, custody, key_algorithm,
      cert_pem, sealed_key, fingerprint_sha256, not_before, not_after, rotate_after, revoked_at, revocation_reason, created_at, subject, key_id)
    VALUES (@serial, @cluster, @trustDomain, @rootSerial, @generation, @status, 'escrowed', 'ecdsa-p256', @certPem, @sealedKey,
      @fingerprint, @notBefore, @notAfter, @rotateAfter, @revokedAt, @reason, @createdAt, @subject, @keyId)`);
  const perCluster = Math.ceil(count / clusters);
  const base = r.createdAt.getTime() - count * 1000;
  db.transaction(() => {
    let n = 0;
    for (let c = 0; c < clusters && n < count; c++) {
      for (let g = c === 0 ? 2 : 1; g <= perCluster + 1 && n < count; g++, n++) {
        const revoked = n % 5 === 0;
        insert.run({
          serial: `5${randomBytes(15).toString("hex")}`.slice(0, 32),
          cluster: `s${c}`,
          trustDomain,
          rootSerial: r.rootSerial,
          generation: c === 0 ? g : g,
          status: revoked ? "revoked" : "superseded",
          certPem: r.certPem,
          sealedKey: Buffer.from(r.sealedKey!),
          fingerprint: randomBytes(32).toString("hex"),
          notBefore: r.notBefore.getTime(),
          notAfter: r.notAfter.getTime() - (n % 365) * 86_400_000,
          rotateAfter: r.rotateAfter.getTime(),
          revokedAt: revoked ? base + n * 1000 : null,
          reason: revoked ? "superseded" : null,
          createdAt: base + n * 1000,
          subject: `O=meshroot, CN=Intermediate CA, L=s${c}, OU=generation-${g}`,
          keyId: r.keyId ?? null,
        });
      }
    }
  })();
}

/** Appends `count` chained audit events in one transaction. */
export function seedAudit(db: Db, count: number): void {
  const append = auditAppender(db);
  const at = new Date();
  db.transaction(() => {
    for (let i = 0; i < count; i++) {
      append({
        ...CTX,
        at,
        action: "intermediate.issue",
        target: { type: "intermediate", id: randomBytes(16).toString("hex") },
        cluster: `s${i % 1000}`,
        trustDomain: "bench.example",
        outcome: "success",
        details: { generation: i, custody: "escrowed", keyAlgorithm: "ecdsa-p256", keyReturned: true },
      });
    }
  })();
}

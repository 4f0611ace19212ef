import type { IntermediateRecord } from "../core/ports.js";

/**
 * Row mappings both storage backends share: their intermediates tables have the same columns and
 * types (times as epoch milliseconds, the sealed key as bytes), so one row type, one mapper and
 * one SELECT serve SQLite and PostgreSQL alike.
 */

/** Converts a nullable epoch-milliseconds column to a Date. */
export function toDate(ms: number | null): Date | null {
  return ms === null ? null : new Date(ms);
}

export interface IntermediateRow {
  serial: string;
  cluster: string;
  trust_domain: string;
  root_serial: string;
  generation: number;
  status: IntermediateRecord["status"];
  custody: IntermediateRecord["custody"];
  key_algorithm: IntermediateRecord["keyAlgorithm"];
  cert_pem: string;
  sealed_key: Buffer | null;
  fingerprint_sha256: string;
  not_before: number;
  not_after: number;
  rotate_after: number;
  supersedes: string | null;
  superseded_by: string | null;
  revoked_at: number | null;
  revocation_reason: string | null;
  idempotency_key: string | null;
  request_hash: string | null;
  created_at: number;
  subject: string | null;
  key_id: string | null;
  signing_seen_at: number | null;
}

export const toIntermediate = (r: IntermediateRow): IntermediateRecord => ({
  serial: r.serial,
  cluster: r.cluster,
  trustDomain: r.trust_domain,
  rootSerial: r.root_serial,
  generation: r.generation,
  status: r.status,
  custody: r.custody,
  keyAlgorithm: r.key_algorithm,
  certPem: r.cert_pem,
  sealedKey: r.sealed_key && new Uint8Array(r.sealed_key),
  fingerprintSha256: r.fingerprint_sha256,
  notBefore: new Date(r.not_before),
  notAfter: new Date(r.not_after),
  rotateAfter: new Date(r.rotate_after),
  supersedes: r.supersedes,
  supersededBy: r.superseded_by,
  revokedAt: toDate(r.revoked_at),
  revocationReason: r.revocation_reason,
  idempotencyKey: r.idempotency_key,
  requestHash: r.request_hash,
  createdAt: new Date(r.created_at),
  subject: r.subject ?? undefined,
  keyId: r.key_id ?? undefined,
  signingSeenAt: r.signing_seen_at === null ? undefined : new Date(r.signing_seen_at),
});

/** Columns of an intermediate plus the serial of the generation that superseded it. */
export const INTERMEDIATE_SELECT = `SELECT i.*, (SELECT n.serial FROM intermediates n WHERE n.supersedes = i.serial) AS superseded_by
  FROM intermediates i`;

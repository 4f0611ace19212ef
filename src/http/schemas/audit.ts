import { z } from "zod";
import { ClusterName, PageQuery, Timestamp, TrustDomainName, TimeQuery } from "./common.js";
import { Intermediate } from "./intermediates.js";

export const AuditEventSchema = z
  .object({
    seq: z.int(),
    at: Timestamp,
    actor: z.object({ type: z.enum(["token", "system", "anonymous"]), id: z.string(), name: z.string() }),
    action: z.string().describe("e.g. intermediate.issue, intermediate.rotate, intermediate.revoke, cacerts.read, request.denied"),
    target: z.object({ type: z.string(), id: z.string() }),
    cluster: z.string().nullable(),
    trustDomain: z.string().nullable(),
    outcome: z.enum(["success", "denied", "failure"]),
    requestId: z.string().nullable(),
    sourceIp: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    prevHash: z.string(),
    hash: z.string(),
  })
  .describe("one hash-chained audit event (docs/audit.md)");

const AuditFilterFields = {
  action: z.string().max(64).optional(),
  actor: z.string().max(64).optional().describe("token id, or system"),
  cluster: ClusterName.optional(),
  trustDomain: TrustDomainName.optional(),
  outcome: z.enum(["success", "denied", "failure"]).optional(),
  since: TimeQuery.optional().describe("events at or after this time (a date or an RFC 3339 date-time)"),
  until: TimeQuery.optional().describe("events before this time (a date or an RFC 3339 date-time)"),
};

export const AuditQuery = z.strictObject({
  ...AuditFilterFields,
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().max(512).optional(),
});

export const AuditExportQuery = z.strictObject(AuditFilterFields);

export const AuditVerifyQuery = z.strictObject({
  expectHead: z
    .string()
    .regex(/^\d{1,15}:[0-9a-f]{64}$/, "must be <seq>:<hash>")
    .optional()
    .describe("a chain head recorded elsewhere (log line, metric), as <seq>:<hash>"),
});

export const AuditVerdict = z.object({
  ok: z.boolean().describe("the chain, the checkpoint, the creation-event cross-check and the expected head all hold"),
  chainOk: z.boolean().describe("the hash chain alone is intact"),
  events: z.int().describe("events verified before the first broken one (all when ok)"),
  lastSeq: z.int(),
  lastHash: z.string(),
  firstBroken: z.object({ seq: z.int(), reason: z.string() }).nullable(),
  checkpoint: z.object({
    status: z.enum(["ok", "none", "unavailable", "tampered", "truncated", "rewritten"]),
    checkpoint: z.object({ seq: z.int(), hash: z.string(), at: z.string() }).nullable(),
    eventsAfter: z.int().describe("events after the checkpoint, not yet anchored by one"),
    reason: z.string().nullable(),
  }),
  missingCreationEvents: z.array(z.object({ kind: z.enum(["token", "intermediate"]), id: z.string() })).describe("tokens and intermediates without their creation event"),
  expectedHead: z
    .object({ seq: z.int(), hash: z.string(), ok: z.boolean(), unanchored: z.int(), reason: z.string().nullable() })
    .nullable(),
});

export const CertificateQuery = PageQuery.extend({
  cluster: ClusterName.optional(),
  trustDomain: TrustDomainName.optional(),
  status: z.enum(["prepared", "active", "superseded", "revoked", "expired"]).optional(),
  expiresBefore: TimeQuery.optional(),
  issuedAfter: TimeQuery.optional(),
});

export const CertificateDetail = Intermediate.extend({
  fingerprints: z.object({ sha256: z.string(), sha1: z.string() }),
  history: z.array(AuditEventSchema).describe("audit events of this certificate, oldest first"),
});

import { z } from "zod";
import { ClusterName, KeyAlgorithmSchema, PageQuery, Timestamp, TrustDomainName } from "./common.js";
import { Intermediate } from "./intermediates.js";

const LABEL_KEY = /^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$/;

export const Labels = z
  .record(
    z.string().regex(LABEL_KEY, "label keys follow Kubernetes label-key syntax"),
    z.string().regex(LABEL_VALUE, "label values follow Kubernetes label-value syntax (at most 63 characters)"),
  )
  .refine((l) => Object.keys(l).length <= 64, "at most 64 labels")
  .describe("free-form labels (Kubernetes label syntax)")
  .meta({ id: "Labels" });

export const PolicyInput = z
  .strictObject({
    keyAlgorithm: KeyAlgorithmSchema.optional().describe("intermediate key algorithm (default ecdsa-p256)"),
    validityDays: z.int().min(1).max(3650).optional().describe("intermediate validity in days (default 365)"),
    renewBeforeDays: z
      .int()
      .min(0)
      .max(3649)
      .nullable()
      .optional()
      .describe("rotate this many days before expiry (default null: one third of validity)"),
  })
  .describe("issuance policy; applies from the next issuance")
  .meta({ id: "ClusterPolicy" });

export const RegisterClusterBody = z
  .strictObject({
    name: ClusterName,
    trustDomain: TrustDomainName,
    labels: Labels.optional(),
    policy: PolicyInput.optional(),
  })
  .meta({
    id: "RegisterClusterRequest",
    examples: [{ name: "east", trustDomain: "mesh.example.com", labels: { env: "prod", region: "eu-west-1" }, policy: { validityDays: 365, renewBeforeDays: 60 } }],
  });

export const PatchClusterBody = z
  .strictObject({ labels: Labels.optional().describe("replaces all labels"), policy: PolicyInput.optional().describe("merged over the current policy") })
  .refine((b) => b.labels !== undefined || b.policy !== undefined, "give labels, policy, or both")
  .meta({ id: "UpdateClusterRequest", examples: [{ labels: { env: "prod", region: "eu-west-1", team: "payments" }, policy: { renewBeforeDays: 90 } }] });

export const ClusterStatus = z
  .enum(["pending", "active", "due", "expired", "revoked", "decommissioned"])
  .describe("pending: none issued; due: past rotate-after; revoked: active one revoked and not replaced");

export const Cluster = z.object({
  name: ClusterName,
  trustDomain: TrustDomainName,
  labels: z.record(z.string(), z.string()),
  policy: z.object({
    keyAlgorithm: KeyAlgorithmSchema,
    validityDays: z.int(),
    renewBeforeDays: z.number().nullable().describe("null: one third of validity"),
  }),
  status: ClusterStatus,
  createdAt: Timestamp,
  updatedAt: Timestamp,
  decommissionedAt: Timestamp.nullable(),
  activeIntermediate: Intermediate.nullable(),
}).meta({ id: "Cluster" });

export const ListClustersQuery = PageQuery.extend({
  trustDomain: TrustDomainName.optional().describe("only clusters of this trust domain"),
});

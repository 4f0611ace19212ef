import { z } from "zod";
import { ClusterStatus } from "./clusters.js";
import { ClusterName, PageQuery, Timestamp, TrustDomainName } from "./common.js";

export const TrustStateSchema = z
  .enum(["converged", "drift", "stale", "unknown"])
  .describe("converged: loads what meshroot says; drift: see reasons; stale: no observation within MESHROOT_OBSERVATION_MAX_AGE; unknown: never observed");

export const TrustReasonSchema = z
  .object({
    code: z
      .enum(["bundle_mismatch", "signing_not_active", "crl_missing_issuer", "crl_expired", "crl_expiring", "observation_stale", "never_observed"])
      .describe("why the cluster is not converged"),
    detail: z.string(),
    sameSet: z.boolean().optional().describe("bundle_mismatch: the same roots, other bytes (order, duplicates, encoding)"),
    missing: z.array(z.string()).optional().describe("bundle_mismatch: SHA-256 fingerprints of desired roots not loaded"),
    unexpected: z.array(z.string()).optional().describe("bundle_mismatch: SHA-256 fingerprints of loaded roots not desired"),
    issuers: z
      .array(z.object({ serial: z.string(), kind: z.enum(["root", "intermediate"]), cluster: z.string().optional() }))
      .optional()
      .describe("crl_missing_issuer: issuers whose CRL the cluster must load"),
    observed: z.string().optional().describe("signing_not_active: fingerprint of istiod's signing certificate"),
    expected: z.string().nullable().optional().describe("signing_not_active: fingerprint of the active intermediate"),
    issuer: z.string().optional().describe("crl_expired/crl_expiring: the CRL's issuer name"),
    nextUpdate: Timestamp.optional(),
  })
  .describe("one reason of the trust state");

export const TrustStateView = z.object({
  state: TrustStateSchema,
  reasons: z.array(TrustReasonSchema),
});

export const FleetEntry = z.object({
  name: ClusterName,
  trustDomain: TrustDomainName,
  labels: z.record(z.string(), z.string()),
  status: ClusterStatus,
  generation: z.int().nullable().describe("the active intermediate's generation"),
  notAfter: Timestamp.nullable(),
  rotateAfter: Timestamp.nullable(),
  trust: TrustStateView,
  lastObservedAt: Timestamp.nullable(),
  observationAgeSeconds: z.int().nullable().describe("seconds since the latest observation"),
  istioVersion: z.string().nullable(),
  crlNextUpdate: Timestamp.nullable().describe("earliest nextUpdate of the CRLs the cluster loaded; null when it reported none"),
});

export const ObservationResponse = FleetEntry;

export const ListFleetQuery = PageQuery.extend({
  trustDomain: TrustDomainName.optional().describe("only clusters of this trust domain"),
  state: TrustStateSchema.optional().describe("only clusters in this trust state"),
});

/** The documented body (parsed by the core from the raw text, so that a key is refused before parsing). */
export const ObservationBodyDoc = {
  content: {
    "application/json": {
      schema: {
        oneOf: [
          {
            type: "object",
            required: ["rootCertPem"],
            additionalProperties: false,
            properties: {
              rootCertPem: { type: "string", description: "root-cert.pem exactly as the istio-ca-root-cert ConfigMap holds it" },
              caCertPem: { type: "string", description: "istiod's signing certificate (ca-cert.pem / tls.crt)" },
              crlPem: { type: "string", description: "ca-crl.pem from the istio-ca-crl ConfigMap" },
              istioVersion: { type: "string", maxLength: 64 },
              multiRoot: { type: "boolean", description: "ISTIO_MULTIROOT_MESH" },
              ambient: { type: "boolean" },
            },
          },
          {
            type: "object",
            description: "a Kubernetes ConfigMap (kubectl get cm istio-ca-root-cert -o json): data.root-cert.pem and/or data.ca-crl.pem",
            required: ["kind", "data"],
            properties: { kind: { type: "string", enum: ["ConfigMap"] }, data: { type: "object", additionalProperties: { type: "string" } } },
          },
        ],
      },
    },
  },
} as unknown as z.ZodType;

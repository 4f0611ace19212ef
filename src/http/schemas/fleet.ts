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
      .describe("crl_missing_issuer: issuers whose CRL the cluster must load (the first 100)"),
    issuerCount: z.int().optional().describe("crl_missing_issuer: how many issuers are missing in all"),
    observed: z.string().optional().describe("signing_not_active: fingerprint of istiod's signing certificate"),
    expected: z.string().nullable().optional().describe("signing_not_active: fingerprint of the active intermediate"),
    issuer: z.string().optional().describe("crl_expired/crl_expiring: the CRL's issuer name"),
    nextUpdate: Timestamp.optional(),
  })
  .describe("one reason of the trust state")
  .meta({ id: "TrustReason" });

export const TrustStateView = z
  .object({
    state: TrustStateSchema,
    reasons: z.array(TrustReasonSchema),
  })
  .meta({ id: "TrustState" });

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
}).meta({ id: "FleetCluster" });

const Certificate = z.object({ fingerprintSha256: z.string(), serial: z.string(), subject: z.string(), notAfter: Timestamp });

export const FleetDetail = FleetEntry.extend({
  desired: z
    .object({
      roots: z.array(Certificate).describe("root-cert.pem as meshroot serves it, in order"),
      activeIntermediate: Certificate.nullable().describe("what istiod should sign with (ca-cert.pem)"),
      crlIssuers: z
        .array(z.object({ serial: z.string(), kind: z.enum(["root", "intermediate"]), cluster: z.string().optional() }))
        .describe("issuers whose CRL ca-crl.pem must hold (the roots and every live intermediate of the trust domain)"),
    })
    .describe("what the cluster should load"),
  observed: z
    .object({
      observedAt: Timestamp,
      source: z.enum(["json", "configmap"]),
      roots: z.array(Certificate).describe("the certificates of the reported root-cert.pem, in order"),
      caCert: Certificate.nullable().describe("istiod's signing certificate, when reported"),
      crls: z
        .array(z.object({ issuer: z.string(), keyId: z.string().nullable(), thisUpdate: Timestamp, nextUpdate: Timestamp.nullable(), revoked: z.int() }))
        .nullable()
        .describe("the CRLs of the reported ca-crl.pem; null when not reported"),
      istioVersion: z.string().nullable(),
      multiRoot: z.boolean().nullable(),
      ambient: z.boolean().nullable(),
    })
    .nullable()
    .describe("what the cluster's latest observation holds; null when it never reported"),
}).meta({ id: "FleetClusterDetail" });

export const ObservationResponse = FleetDetail;

export const ListFleetQuery = PageQuery.extend({
  trustDomain: TrustDomainName.optional().describe("only clusters of this trust domain"),
  state: TrustStateSchema.optional().describe("only clusters in this trust state"),
  selector: z
    .string()
    .max(1024)
    .optional()
    .describe("Kubernetes label selector over cluster labels: `env=prod,tier!=edge`, `team`, `!legacy`, `region in (eu,us)`, `env notin (dev)`"),
});

/** A root certificate as root-cert.pem holds it (O=Example Inc, CN=mesh.example.com Root CA), for the documented example. */
const EXAMPLE_ROOT_PEM = `-----BEGIN CERTIFICATE-----\nMIIBqzCCAVCgAwIBAgIIah88C54tSlgwCgYIKoZIzj0EAwIwOTEUMBIGA1UECgwL\nRXhhbXBsZSBJbmMxITAfBgNVBAMMGG1lc2guZXhhbXBsZS5jb20gUm9vdCBDQTAe\nFw0yNjAxMDEwMDAwMDBaFw0zNjAxMDEwMDAwMDBaMDkxFDASBgNVBAoMC0V4YW1w\nbGUgSW5jMSEwHwYDVQQDDBhtZXNoLmV4YW1wbGUuY29tIFJvb3QgQ0EwWTATBgcq\nhkjOPQIBBggqhkjOPQMBBwNCAATXumODu2I51uknSAex2+lZrTJ3kXfeJyzEY84L\ngm1oDXtfzzyookjwO7OYSZkCOI6zEvuXTqhsajbuAsTi0eVro0IwQDAPBgNVHRMB\nAf8EBTADAQH/MA4GA1UdDwEB/wQEAwIBhjAdBgNVHQ4EFgQUmxDnrY4Q18LQLZ0Q\nDYqwrtXH96MwCgYIKoZIzj0EAwIDSQAwRgIhAJGo2xgoCo52KYDqcVniU3xLBvkM\nObc4GYL9MevRZHORAiEAibHOnQFXFb1IkIB9H22Je6bXjSpbGtuAZp/agCOqIz0=\n-----END CERTIFICATE-----\n`;

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
        examples: [{ rootCertPem: EXAMPLE_ROOT_PEM, istioVersion: "1.27.1", multiRoot: false, ambient: false }],
      },
    },
  },
} as unknown as z.ZodType;

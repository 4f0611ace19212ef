import { z } from "zod";
import { ClusterName, KeyAlgorithmSchema, PemText, Timestamp, TrustDomainName } from "./common.js";

export const Intermediate = z.object({
  serial: z.string().describe("hex serial number"),
  cluster: ClusterName,
  trustDomain: TrustDomainName,
  generation: z.int(),
  status: z
    .enum(["prepared", "active", "superseded", "revoked", "expired"])
    .describe("prepared: issued ahead of use (a staged rotation waiting for peers to load its CRL, or a root rotation's new root), in no Secret until activated"),
  custody: z.enum(["escrowed", "external"]).describe("escrowed: meshroot holds the encrypted key; external: the key never reached meshroot"),
  keyAlgorithm: KeyAlgorithmSchema,
  subject: z.string(),
  rootSerial: z.string(),
  notBefore: Timestamp,
  notAfter: Timestamp,
  rotateAfter: Timestamp.describe("when this generation is due for rotation"),
  supersedes: z.string().nullable().describe("serial of the generation this one replaced"),
  supersededBy: z.string().nullable(),
  revokedAt: Timestamp.nullable(),
  revocationReason: z.string().nullable(),
  fingerprintSha256: z.string(),
  certificatePem: z.string(),
}).meta({ id: "Intermediate" });

export const IssueBody = z
  .strictObject({
    csrPem: PemText("PKCS#10 CSR (PEM) for external key custody; omit to let meshroot generate and escrow the key").optional(),
  })
  .nullish()
  .describe("{} (or no body) for an escrowed key, { csrPem } for an external one")
  .meta({ id: "IssueRequest", examples: [{}] });

export const IssueHeaders = z.object({
  "idempotency-key": z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/, "must be 1-255 visible ASCII characters")
    .optional()
    .describe("a retried request with the same key returns the same intermediate"),
});

export const CacertsFiles = z
  .object({
    "ca-cert.pem": z.string(),
    "ca-key.pem": z.string().optional().describe("present for escrowed keys only"),
    "cert-chain.pem": z.string(),
    "root-cert.pem": z.string(),
  })
  .describe("the files of istiod's cacerts Secret")
  .meta({ id: "CacertsFiles" });

export const IssueResponse = z.object({ intermediate: Intermediate, cacerts: CacertsFiles }).meta({ id: "IssueResponse" });

/** A peer that holds a prepared intermediate's activation back. */
export const PendingPeer = z
  .object({
    cluster: ClusterName,
    code: z.enum(["never_observed", "crl_not_loaded"]).optional(),
    detail: z.string(),
  })
  .meta({ id: "PendingPeer" });

export const PendingActivationResponse = z
  .object({
    status: z.literal("pending_peers"),
    intermediate: Intermediate.describe("the prepared intermediate: in no Secret yet"),
    pendingPeers: z.array(PendingPeer).describe("the peers whose ca-crl.pem does not hold its CRL yet"),
    leadEndsAt: Timestamp.nullable().describe("when peers that never reported stop holding it back (MESHROOT_PREPARE_LEAD after it was prepared); null when none"),
    next: z.string().describe("what to do now"),
  })
  .describe("202: a staged rotation prepared the next intermediate; it is activated once every peer loaded its CRL")
  .meta({ id: "PendingActivation" });

export const ActivateBody = z
  .strictObject({
    force: z.boolean().optional().describe("activate although peers have not loaded its CRL (admin only; breaks their traffic from this cluster's new workload certificates)"),
    reason: z.string().min(1).max(500).optional().describe("why: required with force, audited"),
  })
  .nullish()
  .meta({ id: "ActivateRequest" });

export const IntermediateParams = z.strictObject({ name: ClusterName });

export const CacertsQuery = z.strictObject({
  format: z.enum(["yaml", "json"]).default("yaml").describe("manifest format"),
  type: z.enum(["opaque", "tls"]).default("opaque").describe("opaque: istiod's cacerts files; tls: kubernetes.io/tls"),
  namespace: ClusterName.default("istio-system").describe("namespace of the Secret"),
  crl: z
    .enum(["true", "false", "strict"])
    .default("false")
    .transform((v) => (v === "false" ? false : v))
    .describe(
      "add ca-crl.pem (Istio >= 1.27): the root's CRL and a CRL from every live intermediate of the trust domain. " +
        "With true, an external-custody intermediate without a current CRL is left out and named in the meshroot-crl-missing header; with strict, the request fails with crl_incomplete instead",
    ),
});

import { z } from "zod";
import { REVOCATION_REASON_NAMES } from "../../x509/crl.js";
import { ClusterName, Timestamp, TrustDomainName } from "./common.js";

/** A serial as meshroot writes it (lowercase hex) or as openssl prints it (upper case, with colons); normalised to lowercase hex. */
export const Serial = z
  .string()
  .regex(/^(?:[0-9a-fA-F]{2,40}|[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){0,19})$/, "must be a certificate serial in hex (670ab851…, or as openssl prints it: 67:0A:B8:51…)")
  .transform((s) => s.replaceAll(":", "").toLowerCase())
  .describe("certificate serial in hex; upper case and colons (as openssl prints it) are accepted");

export const RevokeBody = z
  .strictObject({
    reason: z.enum(REVOCATION_REASON_NAMES).describe("RFC 5280 reason name"),
  })
  .meta({ id: "RevokeRequest", examples: [{ reason: "keyCompromise" }] });

export const SerialParams = z.strictObject({ serial: Serial });
export const ClusterSerialParams = z.strictObject({ name: ClusterName, serial: Serial });
export const RootParams = z.strictObject({ name: TrustDomainName, serial: Serial });

export const CrlQuery = z.strictObject({
  format: z.enum(["der", "pem"]).default("der").describe("der (application/pkix-crl, default) or pem"),
});

const DURATION = /^(\d{1,5})(d|h|m)$/;
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;

export const DueQuery = z.strictObject({
  within: z
    .string()
    .regex(DURATION, "must be a duration such as 7d, 12h or 30m")
    .transform((v) => {
      const [, n, unit] = DURATION.exec(v)!;
      return Number(n) * UNIT_MS[unit as keyof typeof UNIT_MS];
    })
    .optional()
    .describe("also list clusters that become due within this duration (e.g. 7d)"),
  trustDomain: TrustDomainName.optional(),
});

export const DueCluster = z.object({
  cluster: ClusterName,
  trustDomain: TrustDomainName,
  status: z.enum(["pending", "active", "due", "expired", "revoked", "decommissioned"]),
  serial: z.string(),
  generation: z.int(),
  custody: z.enum(["escrowed", "external"]),
  rotateAfter: Timestamp,
  notAfter: Timestamp,
}).meta({ id: "DueCluster" });

export const RunBody = z
  .strictObject({
    dryRun: z.boolean().optional().describe("report what would be rotated without issuing"),
    trustDomain: TrustDomainName.optional().describe("only clusters of this trust domain"),
  })
  .nullish()
  .meta({ id: "RotationRunRequest", examples: [{ dryRun: true, trustDomain: "mesh.example.com" }] });

export const RotationReport = z.object({
  dryRun: z.boolean(),
  rotated: z.array(z.object({ cluster: z.string(), previousSerial: z.string(), serial: z.string(), generation: z.int(), notAfter: Timestamp })),
  pending: z
    .array(
      z.object({
        cluster: z.string(),
        serial: z.string().describe("the prepared intermediate"),
        generation: z.int(),
        prepared: z.boolean().describe("prepared by this run"),
        waitingFor: z.array(z.object({ cluster: z.string(), code: z.enum(["never_observed", "crl_not_loaded"]).optional(), detail: z.string() })),
        leadEndsAt: Timestamp.nullable(),
      }),
    )
    .describe("staged rotations (trust domains with caCrl) waiting for peers to load the new intermediate's CRL: refresh every cluster's Secret with ?crl=true"),
  skipped: z.array(z.object({ cluster: z.string(), reason: z.string() })).describe("clusters left for their owners: external key custody (send a CSR)"),
  wouldRotate: z
    .array(z.object({ cluster: z.string(), serial: z.string().describe("the intermediate a real run would replace"), status: z.string().describe("due, or expired"), rotateAfter: Timestamp, notAfter: Timestamp }))
    .describe("dry runs only: what a real run would rotate (empty otherwise)"),
  failed: z.array(z.object({ cluster: z.string(), code: z.string(), detail: z.string() })),
}).meta({ id: "RotationReport" });

export const UploadedCrl = z.object({
  issuerSerial: z.string(),
  crlNumber: z.int().nullable(),
  thisUpdate: Timestamp,
  nextUpdate: Timestamp,
  entries: z.int(),
}).meta({ id: "UploadedCrl" });

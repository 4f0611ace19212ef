import { z } from "zod";
import { ClusterName, PemText, Timestamp, TrustDomainName } from "./common.js";
import { GeneratedRoot, ImportedRoot } from "./trust-domains.js";

const Phase = z.enum(["prepared", "trust-both", "sign-new", "drop-old", "done", "rolled-back"]).describe("the rotation's phase (README: Root rotation)");

export const StartRootRotationBody = z
  .strictObject({
    root: GeneratedRoot.optional().describe("parameters of the generated new root (default: as at trust-domain creation)"),
    import: ImportedRoot.optional().describe("an existing root to rotate to instead of generating one"),
    workloadCertTtlHours: z.int().min(1).max(8760).optional().describe("how long workload certificates live (default 24): drop-old waits this long after the last switch"),
    revokeOldRoot: z.boolean().optional().describe("mark the old root revoked, not only retired, when the rotation is done"),
  })
  .refine((b) => !(b.root && b.import), { message: "give either root (generate) or import, not both", path: ["import"] })
  .nullish()
  .meta({ id: "StartRootRotationRequest", examples: [{ root: { keyAlgorithm: "ecdsa-p256", validityDays: 3650 }, workloadCertTtlHours: 24 }] });

export const AdvanceBody = z
  .strictObject({
    force: z.boolean().optional().describe("move on although the gate is not met (admin; audited with the reason and the clusters not converged)"),
    reason: z.string().min(1).max(500).optional().describe("why (required with force)"),
  })
  .nullish()
  .meta({ id: "AdvanceRootRotationRequest", examples: [{}, { force: true, reason: "old root key compromised: INC-1234" }] });

export const RollbackBody = z.strictObject({ reason: z.string().min(1).max(500).optional() }).nullish().meta({ id: "RollbackRootRotationRequest", examples: [{ reason: "istiod in east did not reload" }] });

export const RotationCsrBody = z.strictObject({ csrPem: PemText("PKCS#10 CSR (PEM) of the cluster's next key, for the new root") }).meta({ id: "RootRotationCsrRequest" });

export const RotationClusterParams = z.strictObject({ name: TrustDomainName, cluster: ClusterName });

const RootSummary = z.object({ serial: z.string(), generation: z.int(), status: z.string(), subject: z.string(), notAfter: Timestamp, fingerprintSha256: z.string() });

const GateItem = z.object({
  met: z.boolean(),
  code: z
    .enum(["csr_required", "not_prepared", "never_observed", "observation_stale", "bundle_not_loaded", "crl_not_loaded", "multi_root_disabled", "not_switched", "not_signing_new", "old_root_still_loaded"])
    .optional(),
  detail: z.string().optional(),
});

export const RootRotationView = z
  .object({
    id: z.int(),
    trustDomain: TrustDomainName,
    phase: Phase,
    history: z.array(z.object({ phase: Phase, at: Timestamp })).describe("when each phase began"),
    startedAt: Timestamp,
    finishedAt: Timestamp.nullable(),
    lastSwitchAt: Timestamp.nullable(),
    workloadCertTtlHours: z.number(),
    revokeOldRoot: z.boolean(),
    oldRoot: RootSummary,
    newRoot: RootSummary,
    gate: z
      .object({
        next: Phase.nullable().describe("where advance moves; null when the rotation is over"),
        met: z.boolean(),
        notBefore: Timestamp.nullable().describe("sign-new → drop-old: not before the last switch plus the workload certificate lifetime"),
        blocking: z.array(GateItem.extend({ cluster: ClusterName })),
      })
      .describe("the gate of the next phase"),
    clusters: z.array(
      z.object({
        name: ClusterName,
        custody: z.enum(["escrowed", "external"]),
        switched: z.boolean().describe("signs under the new root"),
        active: z.object({ serial: z.string(), generation: z.int(), root: z.enum(["old", "new"]) }).nullable(),
        prepared: z.object({ serial: z.string(), generation: z.int() }).nullable().describe("its intermediate under the new root, not yet in service"),
        rootCertPem: z.array(z.enum(["old", "new"])).describe("what its cacerts root-cert.pem holds now, in order"),
        lastObservedAt: Timestamp.nullable(),
        gate: GateItem,
      }),
    ),
  })
  .meta({ id: "RootRotation" });

export const AdvanceResponse = z
  .object({
    movedTo: Phase.nullable().describe("the phase entered; null when this call switched clusters instead"),
    switched: z.array(ClusterName).describe("clusters switched to their new intermediate by this call"),
    forced: z.array(GateItem.extend({ cluster: ClusterName })).describe("clusters that had not met the gate when it was forced"),
    rotation: RootRotationView,
  })
  .meta({ id: "AdvanceRootRotationResponse" });

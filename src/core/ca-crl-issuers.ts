import { DAY_MS } from "../clock.js";
import type { IntermediateStatus, RootRecord, RootRotationRecord } from "./ports.js";
import { trustedRoots } from "./root-rotation-plan.js";

/** Default of MESHROOT_WORKLOAD_CERT_TTL: istiod's default workload certificate lifetime. */
export const DEFAULT_WORKLOAD_CERT_TTL_MS = DAY_MS;

interface Issuer {
  serial: string;
  cluster: string;
  generation: number;
  status: IntermediateStatus;
  signingSeenAt?: Date | null | undefined;
}

/**
 * Superseded intermediates whose CRL can leave ca-crl.pem at `now`: their cluster was first
 * reported signing with another intermediate (the latest one reported) at least
 * `workloadCertTtlMs` ago, so no workload certificate they signed is still valid. Without such a
 * report an intermediate keeps its CRL in the bundle until it expires. Pure; `issuers` are a
 * trust domain's live intermediates.
 */
export function prunableIssuers(issuers: readonly Issuer[], now: Date, workloadCertTtlMs: number): Set<string> {
  // Per cluster, the intermediate most recently reported signing (generations are not always in
  // activation order: a root rotation's prepared one may be older than a later rotation).
  const current = new Map<string, { serial: string; at: number }>();
  for (const i of issuers) {
    if (!i.signingSeenAt || i.status === "prepared") continue;
    const seen = current.get(i.cluster);
    if (!seen || i.signingSeenAt.getTime() > seen.at) current.set(i.cluster, { serial: i.serial, at: i.signingSeenAt.getTime() });
  }
  const out = new Set<string>();
  for (const i of issuers) {
    if (i.status !== "superseded") continue;
    const seen = current.get(i.cluster);
    if (seen && seen.serial !== i.serial && seen.at + workloadCertTtlMs <= now.getTime()) out.add(i.serial);
  }
  return out;
}

/**
 * What ca-crl.pem carries for a trust domain: the CRL of every trusted root (bundle order; a root
 * rotation's phase decides), then one per live intermediate under those roots (prepared ones
 * included: their CRL must reach every peer before they sign), less the superseded ones that can have signed nothing still
 * valid. One rule for the bundle (revocation.ts), the fleet's needed issuers (fleet.ts) and the
 * size metric. Pure.
 */
export function caCrlIssuers<T extends Issuer & { rootSerial: string }>(
  roots: RootRecord[],
  rotation: RootRotationRecord | undefined,
  live: readonly T[],
  now: Date,
  workloadCertTtlMs: number,
): { roots: RootRecord[]; intermediates: T[] } {
  const trusted = trustedRoots(roots, rotation);
  const serials = new Set(trusted.map((r) => r.serial));
  const pruned = prunableIssuers(live, now, workloadCertTtlMs);
  // A prepared intermediate's CRL goes out as soon as its root is trusted: a staged rotation's at
  // once (its root is), a root rotation's new-root ones from trust-both on.
  const intermediates = live.filter((i) => serials.has(i.rootSerial) && !pruned.has(i.serial));
  return { roots: trusted, intermediates };
}

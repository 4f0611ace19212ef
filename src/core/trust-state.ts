import { DAY_MS } from "../clock.js";
import { observedCertificates, sha256Hex } from "./observed-facts.js";
import type { ObservationRecord, ObservedCrl, ObservedFacts } from "./ports.js";

export type { ObservationRecord };

/**
 * A cluster's trust state: what its Istio has loaded (the latest observation) against what
 * meshroot says it should load. Pure: the caller gathers the desired side and the observation.
 */

export type TrustState = "converged" | "drift" | "stale" | "unknown";

export type TrustReasonCode =
  | "bundle_mismatch"
  | "signing_not_active"
  | "crl_missing_issuer"
  | "crl_expired"
  | "crl_expiring"
  | "observation_stale"
  | "never_observed";

export interface TrustReason {
  code: TrustReasonCode;
  detail: string;
  /** bundle_mismatch: whether the certificates are the same set in another order or encoding. */
  sameSet?: boolean;
  /** SHA-256 fingerprints: bundle roots not loaded (missing) or loaded but not desired (unexpected). */
  missing?: string[];
  unexpected?: string[];
  /** crl_missing_issuer: the issuers the fleet needs and the cluster has no CRL from. */
  issuers?: { serial: string; kind: "root" | "intermediate"; cluster?: string | undefined }[];
  /** crl_missing_issuer: how many issuers are missing (issuers lists the first MAX_LISTED_ISSUERS). */
  issuerCount?: number;
  /** signing_not_active: fingerprints of what istiod signs with and of the active intermediate. */
  observed?: string;
  expected?: string | null;
  /** crl_expired / crl_expiring: the CRL's issuer and nextUpdate. */
  issuer?: string;
  nextUpdate?: string;
}

/** An issuer whose CRL every cluster of the trust domain must load (what ca-crl.pem carries). */
export interface NeededIssuer {
  serial: string;
  kind: "root" | "intermediate";
  /** Hex subject key identifier: the AKI of the CRLs it signs. */
  keyId: string;
  cluster?: string | undefined;
}

/** The root-cert.pem a cluster should load: its bytes' hash and its certificates' fingerprints in order. */
export interface DesiredBundle {
  bundleSha256: string;
  rootFingerprints: string[];
}

export interface TrustStateInput {
  /** SHA-256 fingerprint of the cluster's active intermediate; undefined when it has none. */
  activeFingerprint: string | undefined;
  desired: DesiredBundle;
  needed: NeededIssuer[];
  /** The latest observation's time and parsed facts; undefined when it never reported. */
  observation: { observedAt: Date; facts: ObservedFacts } | undefined;
  now: Date;
  /** Older observations make the state stale. */
  maxAgeMs: number;
}

export interface TrustVerdict {
  state: TrustState;
  reasons: TrustReason[];
  /** The earliest nextUpdate of the CRLs the cluster loaded; null when it reported none. */
  crlNextUpdate: Date | null;
}

/** A loaded CRL this close to its nextUpdate is reported (peers reject it once past). */
export const CRL_WARNING_MS = DAY_MS;
export const DEFAULT_OBSERVATION_MAX_AGE_MS = DAY_MS;
/** crl_missing_issuer lists at most this many issuers (issuerCount has the total). */
export const MAX_LISTED_ISSUERS = 100;

/** The desired bundle of a root-cert.pem text (trustBundle joined). */
export function desiredBundle(pem: string): DesiredBundle {
  return { bundleSha256: sha256Hex(pem), rootFingerprints: observedCertificates(pem, "desired").map((c) => c.fingerprintSha256) };
}

/** Derives the trust state of one cluster; never throws on what was stored at ingest (validated there). */
export function deriveTrustState(input: TrustStateInput): TrustVerdict {
  const { observation, now } = input;
  if (!observation) return { state: "unknown", reasons: [{ code: "never_observed", detail: "the cluster has never reported what it loaded" }], crlNextUpdate: null };
  const { facts } = observation;
  const reasons = [...bundleReasons(input.desired, facts), ...signingReasons(input.activeFingerprint, facts)];
  const crl = facts.crls === null ? { reasons: [], nextUpdate: null } : crlReasons(input.needed, facts.crls, now);
  reasons.push(...crl.reasons);
  const age = now.getTime() - observation.observedAt.getTime();
  if (age > input.maxAgeMs) {
    // The last report may no longer be true: stale wins, its drift reasons are kept as a hint.
    const hours = Math.floor(age / 3_600_000);
    reasons.unshift({ code: "observation_stale", detail: `the latest observation is ${hours} h old (limit ${input.maxAgeMs / 3_600_000} h)` });
    return { state: "stale", reasons, crlNextUpdate: crl.nextUpdate };
  }
  return { state: reasons.length === 0 ? "converged" : "drift", reasons, crlNextUpdate: crl.nextUpdate };
}

function bundleReasons(desired: DesiredBundle, facts: ObservedFacts): TrustReason[] {
  if (desired.bundleSha256 === facts.bundleSha256) return [];
  const want = desired.rootFingerprints;
  const have = facts.roots.map((r) => r.fingerprintSha256);
  const missing = want.filter((f) => !have.includes(f));
  const unexpected = [...new Set(have.filter((f) => !want.includes(f)))];
  const sameSet = missing.length === 0 && unexpected.length === 0;
  const detail = sameSet
    ? "root-cert.pem holds the desired roots but its bytes differ (order, duplicates or encoding)"
    : `root-cert.pem differs from the desired bundle: ${missing.length} root(s) missing, ${unexpected.length} unexpected`;
  return [{ code: "bundle_mismatch", detail, sameSet, missing, unexpected }];
}

function signingReasons(active: string | undefined, facts: ObservedFacts): TrustReason[] {
  const observed = facts.caCert?.fingerprintSha256;
  if (observed === undefined || observed === active) return [];
  const detail = active ? "istiod signs with another certificate than the active intermediate" : "istiod signs with a certificate, but the cluster has no active intermediate";
  return [{ code: "signing_not_active", detail, observed, expected: active ?? null }];
}

function crlReasons(needed: NeededIssuer[], crls: ObservedCrl[], now: Date): { reasons: TrustReason[]; nextUpdate: Date | null } {
  const reasons: TrustReason[] = [];
  const keyIds = new Set<string>();
  let earliest: Date | null = null;
  for (const crl of crls) {
    if (crl.keyId) keyIds.add(crl.keyId);
    if (crl.nextUpdate === null) continue;
    const next = new Date(crl.nextUpdate);
    if (!earliest || next < earliest) earliest = next;
    const left = next.getTime() - now.getTime();
    if (left <= 0) reasons.push({ code: "crl_expired", detail: `the CRL of ${crl.issuer} is past its nextUpdate`, issuer: crl.issuer, nextUpdate: crl.nextUpdate });
    else if (left <= CRL_WARNING_MS) reasons.push({ code: "crl_expiring", detail: `the CRL of ${crl.issuer} reaches its nextUpdate within a day`, issuer: crl.issuer, nextUpdate: crl.nextUpdate });
  }
  const absent = needed.filter((i) => !keyIds.has(i.keyId.toLowerCase()));
  if (absent.length > 0) {
    // Listed up to MAX_LISTED_ISSUERS: a cluster that loaded no CRL of a large fleet would otherwise put thousands in every fleet page.
    const issuers = absent.slice(0, MAX_LISTED_ISSUERS).map((i) => ({ serial: i.serial, kind: i.kind, cluster: i.cluster }));
    reasons.unshift({
      code: "crl_missing_issuer",
      detail: `ca-crl.pem has no CRL from ${absent.length} issuer(s) the fleet needs: ${listed(absent.map((i) => i.serial))}`,
      issuers,
      issuerCount: absent.length,
    });
  }
  return { reasons, nextUpdate: earliest };
}

/** At most ten items in a sentence; the full list is in the reason's fields. */
function listed(items: string[]): string {
  return items.length <= 10 ? items.join(", ") : `${items.slice(0, 10).join(", ")} and ${items.length - 10} more`;
}

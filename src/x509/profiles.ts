/**
 * The certificate profiles meshroot issues (docs/architecture.md, "What meshroot emits"), as data: the one place where subjects and
 * extensions are chosen. The encoder (ca-encoder.ts) writes them; the reference path in the tests
 * builds the same certificates from the same data with @peculiar/x509's generic encoder.
 */

import { createHash } from "node:crypto";

/** Subject attribute types meshroot writes, by the short name RFC 4514 text uses. */
export const NAME_ATTRIBUTES = { O: "2.5.4.10", CN: "2.5.4.3", L: "2.5.4.7", OU: "2.5.4.11" } as const;
export type NameAttribute = keyof typeof NAME_ATTRIBUTES;
/** One single-valued RDN. */
export type Rdn = readonly [NameAttribute, string];

export type KeyUsage = "digitalSignature" | "keyCertSign" | "cRLSign";
/** RFC 5280 KeyUsage bit numbers. */
export const KEY_USAGE_BITS: Record<KeyUsage, number> = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 };

export interface CaProfile {
  subject: readonly Rdn[];
  /** basicConstraints, critical, CA:TRUE with this pathLenConstraint (undefined: none). */
  pathLength: number | undefined;
  /** keyUsage, critical. */
  keyUsage: readonly KeyUsage[];
  /** An authorityKeyIdentifier (the issuer's SKI): every CA but a self-signed root. */
  authorityKeyId: boolean;
  // Always a subjectKeyIdentifier (SHA-1 of the key, RFC 5280 method 1); never an
  // extendedKeyUsage (istio/istio#27193). CRL distribution point and AIA when a public URL is set.
}

/** Key usages of every CA certificate meshroot issues. */
export const CA_KEY_USAGE: readonly KeyUsage[] = ["digitalSignature", "keyCertSign", "cRLSign"];

/** RFC 5280 ub-common-name: strict verifiers (openssl -x509_strict) refuse a longer CN. */
export const MAX_COMMON_NAME = 64;

/**
 * The root's CN: `<trust domain> Root CA`, or, when that exceeds 64 characters, the trust
 * domain's first characters, `-`, 8 hex of its SHA-256 and ` Root CA` (deterministic, still
 * distinct per trust domain, exactly 64 characters).
 */
export function rootCommonName(trustDomain: string): string {
  const full = `${trustDomain} Root CA`;
  if (full.length <= MAX_COMMON_NAME) return full;
  const hash = createHash("sha256").update(trustDomain).digest("hex").slice(0, 8);
  return `${trustDomain.slice(0, MAX_COMMON_NAME - " Root CA".length - hash.length - 1)}-${hash} Root CA`;
}

/** The root: `O=<org>, CN=<trust domain> Root CA` (shortened past 64 characters); CA:TRUE without pathlen; no AKI. */
export function rootProfile(organization: string, trustDomain: string, generation = 1): CaProfile {
  // A later root of the same trust domain (root rotation) gets its own name: bundles hold both,
  // and chain builders that match by name alone must not confuse them.
  const subject: Rdn[] = [["O", organization], ["CN", rootCommonName(trustDomain)]];
  if (generation > 1) subject.push(["OU", `root-generation-${generation}`]);
  return { subject, pathLength: undefined, keyUsage: CA_KEY_USAGE, authorityKeyId: false };
}

/**
 * A cluster's intermediate: `O=<org>, CN=Intermediate CA, L=<cluster>, OU=generation-<n>` (Istio's
 * tooling layout plus the generation, so every generation has a distinct issuer name for CRL
 * matching); CA:TRUE pathlen 0; AKI = the root's SKI.
 */
export function intermediateProfile(organization: string, clusterName: string, generation: number): CaProfile {
  return {
    subject: [["O", organization], ["CN", "Intermediate CA"], ["L", clusterName], ["OU", `generation-${generation}`]],
    pathLength: 0,
    keyUsage: CA_KEY_USAGE,
    authorityKeyId: true,
  };
}

/** RFC 4514 escaping, as @peculiar/x509's Name.toString writes it. */
function escapeRdn(value: string): string {
  return value
    .replace(/([,+"\\<>;])/g, "\\$1")
    .replace(/^([ #])/, "\\$1")
    .replace(/([ ]$)/, "\\$1")
    .replace(/([\r\n\t])/, (c) => `\\${Buffer.from(c, "utf8").toString("hex").toUpperCase()}`);
}

/** A subject as text, the way the certificate's parsed subject reads (stored with each intermediate). */
export function subjectText(subject: readonly Rdn[]): string {
  return subject.map(([type, value]) => `${type}=${escapeRdn(value)}`).join(", ");
}

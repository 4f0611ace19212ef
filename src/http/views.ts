import * as x509 from "@peculiar/x509";
import type { ClusterView } from "../core/clusters.js";
import { intermediateState } from "../core/cluster-state.js";
import type { IntermediateRecord, RootRecord, TokenRecord } from "../core/ports.js";
import type { CreatedTrustDomain, TrustDomainWithRoots } from "../core/trust-domains.js";

/** JSON views of core records, as the API schemas describe them. */

const iso = (d: Date) => d.toISOString();
const isoOrNull = (d: Date | null) => (d ? d.toISOString() : null);

const subjects = new Map<string, string>();
/** A certificate's subject as text, parsed once per serial. */
export function subjectOf(serial: string, pem: string): string {
  let s = subjects.get(serial);
  if (s === undefined) {
    s = new x509.X509Certificate(pem).subject;
    if (subjects.size > 10_000) subjects.clear();
    subjects.set(serial, s);
  }
  return s;
}

export function rootView(r: RootRecord) {
  return {
    serial: r.serial,
    generation: r.generation,
    status: r.status,
    imported: r.imported,
    keyAlgorithm: r.keyAlgorithm,
    // Where the key is, from its reference's scheme (never the reference itself: it names the token).
    keyStorage: r.keyRef.startsWith("pkcs11:") ? ("pkcs11" as const) : ("software" as const),
    subject: subjectOf(r.serial, r.certPem),
    notBefore: iso(r.notBefore),
    notAfter: iso(r.notAfter),
    fingerprintSha256: r.fingerprintSha256,
    certificatePem: r.certPem,
  };
}

export function trustDomainView({ domain, roots }: TrustDomainWithRoots) {
  return { name: domain.name, organization: domain.organization, caCrl: domain.caCrl, createdAt: iso(domain.createdAt), roots: roots.map(rootView) };
}

/** The creation response: the trust domain and the warnings about its root. */
export function createdTrustDomainView(created: CreatedTrustDomain) {
  return { ...trustDomainView(created), warnings: created.warnings };
}

export function intermediateView(r: IntermediateRecord, now: Date) {
  return {
    serial: r.serial,
    cluster: r.cluster,
    trustDomain: r.trustDomain,
    generation: r.generation,
    status: intermediateState(r, now),
    custody: r.custody,
    keyAlgorithm: r.keyAlgorithm,
    subject: r.subject ?? subjectOf(r.serial, r.certPem),
    rootSerial: r.rootSerial,
    notBefore: iso(r.notBefore),
    notAfter: iso(r.notAfter),
    rotateAfter: iso(r.rotateAfter),
    supersedes: r.supersedes,
    supersededBy: r.supersededBy,
    revokedAt: isoOrNull(r.revokedAt),
    revocationReason: r.revocationReason,
    fingerprintSha256: r.fingerprintSha256,
    certificatePem: r.certPem,
  };
}

export function clusterView(v: ClusterView, now: Date) {
  const c = v.cluster;
  return {
    name: c.name,
    trustDomain: c.trustDomain,
    labels: c.labels,
    policy: c.policy,
    status: v.status,
    createdAt: iso(c.createdAt),
    updatedAt: iso(c.updatedAt),
    decommissionedAt: isoOrNull(c.decommissionedAt),
    activeIntermediate: v.active ? intermediateView(v.active, now) : null,
  };
}

export function tokenView(t: TokenRecord) {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    clusters: t.clusterPatterns,
    createdAt: iso(t.createdAt),
    expiresAt: isoOrNull(t.expiresAt),
    lastUsedAt: isoOrNull(t.lastUsedAt),
    revokedAt: isoOrNull(t.revokedAt),
  };
}

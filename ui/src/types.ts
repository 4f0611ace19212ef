// The API's shapes as the dashboard reads them (see openapi/openapi.json).

export type TrustState = "converged" | "drift" | "stale" | "unknown";
export type ClusterStatus = "pending" | "active" | "due" | "expired" | "revoked" | "decommissioned";

export interface TrustReason {
  code: string;
  detail: string;
  sameSet?: boolean;
  missing?: string[];
  unexpected?: string[];
  issuers?: { serial: string; kind: "root" | "intermediate"; cluster?: string }[];
  issuerCount?: number;
  observed?: string;
  expected?: string | null;
  issuer?: string;
  nextUpdate?: string;
}

export interface FleetEntry {
  name: string;
  trustDomain: string;
  labels: Record<string, string>;
  status: ClusterStatus;
  generation: number | null;
  notAfter: string | null;
  rotateAfter: string | null;
  trust: { state: TrustState; reasons: TrustReason[] };
  lastObservedAt: string | null;
  observationAgeSeconds: number | null;
  istioVersion: string | null;
  crlNextUpdate: string | null;
}

export interface CertRef {
  serial?: string;
  fingerprintSha256: string;
  subject: string;
  notAfter?: string;
}

export interface ObservationView extends FleetEntry {
  desired: {
    roots: (CertRef & { serial: string; notAfter: string })[];
    activeIntermediate: (CertRef & { serial: string; notAfter: string }) | null;
    crlIssuers: { serial: string; kind: "root" | "intermediate"; cluster?: string }[];
  };
  observed: null | {
    observedAt: string;
    source: string;
    roots: CertRef[];
    caCert: (CertRef & { serial: string }) | null;
    crls: { issuer: string; keyId: string | null; thisUpdate: string; nextUpdate: string | null; revoked: number }[] | null;
    istioVersion: string | null;
    multiRoot: boolean | null;
    ambient: boolean | null;
  };
}

export interface Intermediate {
  serial: string;
  cluster: string;
  trustDomain: string;
  generation: number;
  status: "prepared" | "active" | "superseded" | "revoked" | "expired";
  custody: "escrowed" | "external";
  keyAlgorithm: string;
  subject: string;
  rootSerial: string;
  notBefore: string;
  notAfter: string;
  rotateAfter: string;
  revokedAt: string | null;
  revocationReason: string | null;
  fingerprintSha256: string;
}

export interface Root {
  serial: string;
  generation: number;
  status: "prepared" | "active" | "retiring" | "retired" | "revoked";
  imported: boolean;
  keyAlgorithm: string;
  /** software: sealed under the master key; pkcs11: in the HSM. */
  keyStorage: "software" | "pkcs11";
  subject: string;
  notBefore: string;
  notAfter: string;
  fingerprintSha256: string;
}

export interface TrustDomain {
  name: string;
  organization: string;
  /** Its clusters load ca-crl.pem: rotations are staged. */
  caCrl: boolean;
  createdAt: string;
  roots: Root[];
}

export interface Cluster {
  name: string;
  trustDomain: string;
  labels: Record<string, string>;
  status: ClusterStatus;
  policy: { keyAlgorithm: string; validityDays: number; renewBeforeDays: number | null };
}

export interface AuditEvent {
  seq: number;
  at: string;
  actor: { type: string; id: string; name: string };
  action: string;
  target: { type: string; id: string };
  cluster: string | null;
  trustDomain: string | null;
  outcome: "success" | "denied" | "failure";
  requestId: string | null;
  sourceIp: string | null;
  details: Record<string, unknown>;
  hash: string;
}

export interface AuditVerdict {
  ok: boolean;
  chainOk: boolean;
  events: number;
  lastSeq: number;
  lastHash: string;
  firstBroken: { seq: number; reason: string } | null;
  checkpoint: { status: string; checkpoint: { seq: number; hash: string; at: string } | null; eventsAfter: number; reason: string | null };
  missingCreationEvents: { kind: string; id: string }[];
}

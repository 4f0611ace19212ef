import type { Clock } from "../clock.js";
import type { KeyAlgorithm } from "../x509/key-algorithms.js";
import type { Signer } from "../x509/signer.js";
import type { AuditEvent, AuditInput, AuditOutcome, ChainVerdict, StoredAuditEvent } from "./audit.js";
import type { AuditCheckpoint } from "./audit-checkpoint.js";

/**
 * The ports: everything the core needs from outside, declared here and implemented elsewhere —
 * storage by the adapters in src/store/<backend>/ (each must pass test/store/contract.ts), keys by
 * src/keys/, time by src/clock.ts, counters and cache invalidation by the HTTP layer. Nothing in
 * the core knows which implementation runs.
 *
 * Storage rules every backend keeps: every method is async; every method that writes is atomic
 * on its own and carries its audit event in the same transaction; a write that races another
 * fails with the documented code instead of corrupting state.
 */

export type { Clock, Signer, StoredAuditEvent };

/** prepared: a root rotation's new root, in no bundle yet; retired/revoked: an old root after its rotation. */
export type RootStatus = "prepared" | "active" | "retiring" | "retired" | "revoked";
/** prepared: issued under a rotation's new root, in no Secret until the cluster switches to it. */
export type IntermediateStatus = "prepared" | "active" | "superseded" | "revoked";
export type KeyCustody = "escrowed" | "external";
export type Role = "admin" | "provisioner" | "auditor";

export interface Page {
  limit: number;
  /** Sort key of the last item of the previous page. */
  after?: string | undefined;
}

export interface TrustDomainRecord {
  name: string;
  organization: string;
  /** Its clusters load ca-crl.pem: rotations are staged (prepared, then activated once peers have the CRL). */
  caCrl: boolean;
  createdAt: Date;
}

export interface RootRecord {
  serial: string;
  trustDomain: string;
  generation: number;
  status: RootStatus;
  imported: boolean;
  keyAlgorithm: KeyAlgorithm;
  /** Hex subject key identifier: the AKI of every intermediate it signs. */
  keyId: string;
  certPem: string;
  /** Where the root's private key is, for RootKeys.signerFor: `sealed:…` today, `pkcs11:…` later. Never key bytes in the clear. */
  keyRef: string;
  fingerprintSha256: string;
  notBefore: Date;
  notAfter: Date;
  createdAt: Date;
}

export interface ClusterPolicy {
  keyAlgorithm: KeyAlgorithm;
  validityDays: number;
  /** Null means one third of validityDays. */
  renewBeforeDays: number | null;
}

export interface ClusterRecord {
  name: string;
  trustDomain: string;
  labels: Record<string, string>;
  policy: ClusterPolicy;
  createdAt: Date;
  updatedAt: Date;
  decommissionedAt: Date | null;
}

export interface IntermediateRecord {
  serial: string;
  cluster: string;
  trustDomain: string;
  rootSerial: string;
  generation: number;
  status: IntermediateStatus;
  custody: KeyCustody;
  keyAlgorithm: KeyAlgorithm;
  certPem: string;
  sealedKey: Uint8Array | null;
  fingerprintSha256: string;
  notBefore: Date;
  notAfter: Date;
  rotateAfter: Date;
  supersedes: string | null;
  supersededBy: string | null;
  revokedAt: Date | null;
  revocationReason: string | null;
  idempotencyKey: string | null;
  requestHash: string | null;
  createdAt: Date;
  /** The certificate's subject as text (set at issuance; absent on rows issued before it was stored). */
  subject?: string | undefined;
  /** Hex subject key identifier (set at issuance; absent on rows issued before it was stored). */
  keyId?: string | undefined;
  /** When its cluster first reported istiod signing with it (an observation's ca-cert.pem); null until then. */
  signingSeenAt?: Date | null | undefined;
}

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  clusterPatterns: string[];
  /** Trust domains a provisioner may act in (`*`: all); empty: none. Admin and auditor tokens: []. */
  trustDomains: string[];
  tokenHash: string;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export interface TrustDomainStore {
  /** Inserts a trust domain with its first root; throws `trust_domain_exists`. */
  createTrustDomain(domain: TrustDomainRecord, root: RootRecord, audit: AuditInput): Promise<void>;
  getTrustDomain(name: string): Promise<TrustDomainRecord | undefined>;
  listTrustDomains(page: Page): Promise<TrustDomainRecord[]>;
  /** Roots of a trust domain, oldest generation first. */
  listRoots(trustDomain: string): Promise<RootRecord[]>;
  /** The root (of any trust domain) whose certificate has this SHA-256 fingerprint (lowercase hex), if any. */
  findRootByFingerprint(fingerprintSha256: string): Promise<RootRecord | undefined>;
  /** Changes a trust domain's settings with the audit event; returns the record, undefined when there is no such trust domain. */
  updateTrustDomain(name: string, update: { caCrl: boolean }, audit: AuditInput): Promise<TrustDomainRecord | undefined>;
}

export interface ClusterUpdate {
  labels?: Record<string, string>;
  policy?: ClusterPolicy;
  updatedAt: Date;
}

export interface ClusterStore {
  /** Inserts a cluster; throws `cluster_exists`. */
  createCluster(cluster: ClusterRecord, audit: AuditInput): Promise<void>;
  getCluster(name: string): Promise<ClusterRecord | undefined>;
  listClusters(page: Page, filter: { trustDomain?: string | undefined }): Promise<ClusterRecord[]>;
  updateCluster(name: string, update: ClusterUpdate, audit: AuditInput): Promise<ClusterRecord>;
}

export interface CertificateFilter {
  cluster?: string | undefined;
  trustDomain?: string | undefined;
  status?: "prepared" | "active" | "superseded" | "revoked" | "expired" | undefined;
  expiresBefore?: Date | undefined;
  issuedAfter?: Date | undefined;
}

export interface IntermediateStore {
  /**
   * The inventory: intermediates matching `filter` (status as seen at `now`), newest first;
   * `page.after` is the (createdAt, serial) of the previous page's last item.
   */
  listCertificates(
    filter: CertificateFilter,
    now: Date,
    page: { limit: number; after?: { createdAt: number; serial: string } | undefined },
  ): Promise<IntermediateRecord[]>;
  /**
   * Inserts the next generation and, when it is active, supersedes the active one, in one
   * transaction (a `prepared` one waits beside it: root rotation). When the
   * record carries an idempotency key already used for this cluster, nothing is written and the
   * earlier record is returned with `created: false`. Throws `rotation_in_progress` when
   * another generation was committed since `record.generation` was chosen. The audit event is
   * written only when the record is.
   */
  insertIntermediate(record: IntermediateRecord, audit: AuditInput): Promise<{ record: IntermediateRecord; created: boolean }>;
  getIntermediate(serial: string): Promise<IntermediateRecord | undefined>;
  getIntermediateByIdempotencyKey(cluster: string, key: string): Promise<IntermediateRecord | undefined>;
  getActiveIntermediate(cluster: string): Promise<IntermediateRecord | undefined>;
  /** The newest generation of a cluster, whatever its status. */
  getLatestIntermediate(cluster: string): Promise<IntermediateRecord | undefined>;
  /** Generations of a cluster, newest first; `page.after` is a generation number. */
  listIntermediates(cluster: string, page: Page): Promise<IntermediateRecord[]>;
  /** How many generations of a cluster were created after `since` (the issuance rate limit). */
  countIntermediatesSince(cluster: string, since: Date): Promise<number>;
  /**
   * Puts a prepared intermediate in service, in one transaction with its audit event: the
   * cluster's active one (`previous`, null when none) becomes superseded and the prepared one
   * active, superseding it. Throws `rotation_in_progress` (nothing written) when either row
   * moved meanwhile.
   */
  activateIntermediate(serial: string, previous: string | null, audit: AuditInput): Promise<IntermediateRecord>;
}

export interface TokenStore {
  createToken(token: TokenRecord, audit: AuditInput): Promise<void>;
  getTokenByHash(tokenHash: string): Promise<TokenRecord | undefined>;
  listTokens(page: Page): Promise<TokenRecord[]>;
  /** Marks a token revoked; returns the record, or undefined when there is no such token. */
  revokeToken(id: string, at: Date, audit: AuditInput): Promise<TokenRecord | undefined>;
  touchToken(id: string, at: Date): Promise<void>;
  countTokens(): Promise<number>;
}

export interface CrlRecord {
  issuerSerial: string;
  issuerKind: "root" | "intermediate";
  trustDomain: string;
  /** Grows by one per issuer; the CRL number of the CRLs meshroot signs. */
  seq: number;
  crlNumber: number | null;
  thisUpdate: Date;
  nextUpdate: Date;
  entries: number;
  der: Uint8Array;
  uploaded: boolean;
  createdAt: Date;
}

export interface Revocation {
  serial: string;
  revokedAt: Date;
  reason: string;
  /** The issuing root's CRL with this revocation in it, committed with it. */
  crl: CrlRecord;
}

export interface CrlStore {
  getLatestCrl(issuerSerial: string): Promise<CrlRecord | undefined>;
  /** Inserts a CRL; throws `crl_conflict` when another CRL took the same seq first. */
  insertCrl(crl: CrlRecord, audit: AuditInput | null): Promise<void>;
  /**
   * Optional speed-up for ca-crl.pem over thousands of issuers: the latest CRL of each named
   * issuer (absent: none) in one read. Without it the core reads them one by one.
   */
  latestCrls?(issuerSerials: readonly string[]): Promise<Map<string, CrlRecord>>;
  /**
   * Optional speed-up: inserts unaudited CRLs (re-signed or first CRLs) in one transaction,
   * skipping any whose seq another writer took first; returns the ones inserted. Without it the
   * core inserts them one by one.
   */
  insertCrls?(crls: readonly CrlRecord[]): Promise<CrlRecord[]>;
  /** Revoked intermediates a root signed, oldest revocation first. */
  listRevokedByRoot(rootSerial: string): Promise<{ serial: string; revokedAt: Date; reason: string }[]>;
  /** Intermediates of a trust domain that are neither revoked nor expired at `now`. */
  listLiveIntermediates(trustDomain: string, now: Date): Promise<IntermediateRecord[]>;
  /** The same intermediates, lean (from an index): what matching CRLs to issuers needs. */
  listLiveIssuers(trustDomain: string, now: Date): Promise<LiveIssuer[]>;
  /**
   * Live escrowed intermediates of a trust domain without a CRL signed after `freshAfter` and
   * valid at `now`: the ones the refresher re-signs. By serial, at most `limit`, after `after`.
   */
  listIntermediatesNeedingCrl(trustDomain: string, now: Date, freshAfter: Date, page: { limit: number; after?: string | undefined }): Promise<IntermediateRecord[]>;
}

export interface RevocationStore {
  /**
   * Marks an intermediate revoked and inserts the root CRL that lists it, in one transaction.
   * Throws `already_revoked`, `certificate_not_found`, `crl_conflict`.
   */
  revokeIntermediate(revocation: Revocation, audit: AuditInput): Promise<IntermediateRecord>;
  /**
   * Marks a cluster decommissioned and, when given, revokes its active intermediate, in one
   * transaction. Throws `cluster_not_found`, `cluster_decommissioned`, `crl_conflict`.
   */
  decommissionCluster(name: string, at: Date, revocation: Revocation | undefined, audit: AuditInput): Promise<ClusterRecord>;
}

/** Questions about the whole fleet: what is due for rotation, what is active, what is revoked. */
export interface FleetQueries {
  /** Active intermediates of live clusters whose rotate_after is at or before `before`. */
  listDueIntermediates(before: Date, trustDomain: string | undefined): Promise<IntermediateRecord[]>;
  /** The active intermediate of every cluster that is not decommissioned. */
  listActiveIntermediates(): Promise<IntermediateRecord[]>;
  /** Live clusters whose newest intermediate was revoked and not replaced. */
  listRevokedClusters(trustDomain: string | undefined): Promise<ClusterRecord[]>;
  /** The active and the newest intermediate of each named cluster, as summaries (absent keys: none issued). */
  activeAndLatestIntermediates(clusters: readonly string[]): Promise<Map<string, { active: IntermediateSummary | undefined; latest: IntermediateSummary | undefined }>>;
}

export interface ObservationRecord {
  cluster: string;
  observedAt: Date;
  /** root-cert.pem as the cluster loaded it, byte for byte. */
  rootCertPem: string;
  /** istiod's signing certificate, when reported. */
  caCertPem: string | null;
  /** ca-crl.pem, when reported. */
  crlPem: string | null;
  istioVersion: string | null;
  multiRoot: boolean | null;
  ambient: boolean | null;
  /** How it was sent: a JSON body or a Kubernetes ConfigMap object. */
  source: "json" | "configmap";
  /** What the PEM texts hold, parsed once at ingest (the fleet view reads only this). */
  facts: ObservedFacts;
}

/** A certificate a cluster reported, as the fleet view shows it. */
export interface ObservedCertificate {
  fingerprintSha256: string;
  serial: string;
  subject: string;
  notAfter: string;
}

/** A CRL a cluster reported in ca-crl.pem. */
export interface ObservedCrl {
  /** Lowercase hex authority key identifier: which issuer signed it; null when it has none. */
  keyId: string | null;
  issuer: string;
  thisUpdate: string;
  nextUpdate: string | null;
  revoked: number;
}

/** The parsed content of an observation's PEM texts (JSON-serialisable: dates are ISO strings). */
export interface ObservedFacts {
  /** SHA-256 of root-cert.pem's bytes: equal to the desired bundle's means byte-identical. */
  bundleSha256: string;
  roots: ObservedCertificate[];
  caCert: ObservedCertificate | null;
  crls: ObservedCrl[] | null;
}

/** An observation without its PEM texts (what the fleet view needs); facts null for rows stored before facts were kept. */
export type ObservationSummary = Omit<StoredObservation, "rootCertPem" | "caCertPem" | "crlPem" | "facts"> & { facts: ObservedFacts | null };

/** An observation as stored: `id` grows with every insert (the history's order). */
export interface StoredObservation extends ObservationRecord {
  id: number;
}

/** What clusters report they have loaded: kept as history, each insert audited. */
export interface ObservationStore {
  /**
   * Inserts an observation with its audit event, in one transaction, and marks the cluster's
   * intermediate it reports istiod signing with (facts.caCert) as seen signing, if not yet; throws
   * `cluster_not_found`.
   */
  insertObservation(observation: ObservationRecord, audit: AuditInput): Promise<StoredObservation>;
  /** The newest observation of a cluster, if any. */
  latestObservation(cluster: string): Promise<StoredObservation | undefined>;
  /** Observations of a cluster, newest first; `page.after` is the id of the previous page's last item. */
  listObservations(cluster: string, page: Page): Promise<StoredObservation[]>;
  /** The newest observation of each named cluster that has one, without PEM texts. */
  latestObservationSummaries(clusters: readonly string[]): Promise<Map<string, ObservationSummary>>;
}

export interface AuditFilter {
  action?: string | undefined;
  /** Token id, or "system". */
  actor?: string | undefined;
  cluster?: string | undefined;
  trustDomain?: string | undefined;
  outcome?: AuditOutcome | undefined;
  /** Target id: a serial, cluster name, trust domain or token id. */
  target?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
}

/**
 * The audit trail: one hash chain with one order. Every append (here or inside another write)
 * chains to the event committed just before it, with seq = previous seq + 1, however many
 * writers there are: the backend serialises appends (SQLite's single writer; a lock elsewhere)
 * and keeps seq unique as a backstop, so the chain cannot fork.
 */
export interface AuditStore {
  /** Appends one event in its own transaction (reads of key material, denied requests). */
  appendAudit(input: AuditInput): Promise<AuditEvent>;
  /** Newest first; `page.before` is a seq. */
  listAudit(filter: AuditFilter, page: { limit: number; before?: number | undefined }): Promise<AuditEvent[]>;
  /**
   * Every matching event in seq order. Read in pages: a slow consumer holds no connection or
   * lock that writers need.
   */
  iterateAudit(filter: AuditFilter): AsyncIterable<AuditEvent>;
  /** The stored chain in seq order, as stored (canonical text and hash): what verifyChain reads. */
  readAuditChain(): AsyncIterable<StoredAuditEvent>;
  /**
   * Optional speed-up: the verdict of verifyChain over readAuditChain, computed by the backend
   * in parallel. Must equal the one pass; undefined when the backend declines (small chains).
   */
  verifyAuditInParallel?(): Promise<ChainVerdict | undefined>;
  /** The newest event's seq and hash (the chain head); undefined when the trail is empty. */
  auditHead(): Promise<{ seq: number; hash: string } | undefined>;
  /**
   * The seq of the newest event with one of `actions` (0 when none): a version of what those
   * actions change, across processes (every such write appends its event in its transaction).
   */
  latestAuditSeq(actions: readonly string[]): Promise<number>;
  /** The stored hash of the event at `seq`; undefined when there is none. */
  auditHashAt(seq: number): Promise<string | undefined>;
  /** Stores a checkpoint of the chain head (MACed by the core with a key not in the database). */
  insertAuditCheckpoint(checkpoint: AuditCheckpoint): Promise<void>;
  /** The checkpoint with the highest seq (the newest made, on a tie); undefined when none. */
  latestAuditCheckpoint(): Promise<AuditCheckpoint | undefined>;
  /** Tokens and intermediates without their creation event (token.create; intermediate.issue or .rotate) in the trail. */
  listRowsWithoutCreationEvent(): Promise<{ kind: "token" | "intermediate"; id: string }[]>;
}

/**
 * An intermediate without its key or certificate bytes, for views over many clusters;
 * `certPem` only on rows issued before the subject was stored (to read it from).
 */
export type IntermediateSummary = Omit<IntermediateRecord, "certPem" | "sealedKey"> & { certPem: string | null };

/** An unexpired, unrevoked intermediate as a CRL issuer. */
export interface LiveIssuer {
  serial: string;
  cluster: string;
  rootSerial: string;
  status: IntermediateStatus;
  custody: "escrowed" | "external";
  /** Null on rows issued before it was stored (read the certificate). */
  keyId: string | null;
  notAfter: Date;
  generation: number;
  signingSeenAt: Date | null;
}

/** The phases of a root rotation (root-rotation-plan.ts); done and rolled-back end it. */
export type RotationPhase = "prepared" | "trust-both" | "sign-new" | "drop-old" | "done" | "rolled-back";

export interface RootRotationRecord {
  id: number;
  trustDomain: string;
  oldRoot: string;
  newRoot: string;
  phase: RotationPhase;
  /** When each phase began, in order (a rollback appends the phase it returns to). */
  history: { phase: RotationPhase; at: Date }[];
  /** How long workload certificates live: drop-old waits this long after the last switch. */
  workloadCertTtlMs: number;
  /** Mark the old root revoked (not only retired) when the rotation is done. */
  revokeOldRoot: boolean;
  lastSwitchAt: Date | null;
  startedAt: Date;
  finishedAt: Date | null;
}

/** One audited step of a root rotation, applied in one transaction or not at all. */
export interface RootRotationChange {
  id: number;
  /** The phase the caller saw: the change applies only if the rotation is still in it. */
  fromPhase: RotationPhase;
  toPhase: RotationPhase;
  at: Date;
  rootStatuses?: { serial: string; status: RootStatus }[];
  /** Status moves, applied in order, each only if the row is still in `from` (demotions first: one active per cluster). */
  intermediates?: { serial: string; from: IntermediateStatus; to: IntermediateStatus; supersedes?: string | null }[];
  lastSwitchAt?: Date;
  finished?: boolean;
}

export interface RootRotationStore {
  /** The newest rotation of a trust domain (open or finished), if any. */
  latestRootRotation(trustDomain: string): Promise<RootRotationRecord | undefined>;
  /**
   * Stores the new root (status prepared; its generation is the trust domain's next) and the rotation in phase prepared,
   * with the audit event. Throws `root_rotation_in_progress` when one is open, `root_in_use`.
   */
  startRootRotation(root: RootRecord, rotation: Omit<RootRotationRecord, "id">, audit: AuditInput): Promise<RootRotationRecord>;
  /** Applies a step; throws `root_rotation_conflict` (nothing written) when the phase or a row moved meanwhile. */
  applyRootRotation(change: RootRotationChange, audit: AuditInput): Promise<RootRotationRecord>;
}

export type Store = TrustDomainStore & ClusterStore & IntermediateStore & TokenStore & CrlStore & RevocationStore & FleetQueries & ObservationStore & RootRotationStore & AuditStore;

/**
 * Root keys, by reference: the core asks for a signer and never sees a root key's bytes.
 * Implemented by src/keys/ (sealed under the master key today; an HSM later).
 */
export interface RootKeys {
  /**
   * Creates a key pair for a new root. The signer works at once (to self-sign the certificate);
   * `bind` then ties the key to the root's serial and returns the key reference to store.
   */
  generate(alg: KeyAlgorithm): Promise<PendingRootKey>;
  /** Takes an imported root's private key (PKCS#8 DER) into custody, as generate does. */
  importPkcs8(pkcs8: Uint8Array<ArrayBuffer>, alg: KeyAlgorithm): Promise<PendingRootKey>;
  /** The signer of a stored root key; throws `decryption_failed`, `master_key_mismatch`, `key_unavailable`, `hsm_unavailable`. */
  signerFor(keyRef: string, alg: KeyAlgorithm): Promise<Signer>;
  /** Root keys in an HSM over PKCS#11 (`pkcs11:` references), when one is configured; absent, such roots are refused with `pkcs11_not_configured`. */
  hsm?: HsmRootKeys | undefined;
}

/** Where a new root's key is made: sealed under the master key (software) or inside the HSM (pkcs11). */
export type RootKeyStorage = "software" | "pkcs11";

/** Root keys that live in an HSM: generated inside it, or an existing one taken by its `pkcs11:` URI. Throws `hsm_unavailable`. */
export interface HsmRootKeys {
  /** A key pair generated in the token, not extractable; throws `unsupported_key_algorithm` when the token cannot hold one of `alg`. */
  generate(alg: KeyAlgorithm): Promise<PendingRootKey>;
  /** The token's key that `keyUri` names; throws `hsm_key_not_found`, `key_mismatch` (not of `alg`), `validation_failed` (not a pkcs11: URI). */
  adopt(keyUri: string, alg: KeyAlgorithm): Promise<PendingRootKey>;
}

export interface PendingRootKey {
  signer: Signer;
  /** The key reference to store in the row of root `serial`. */
  bind(serial: string): Promise<string>;
}

/**
 * The escrow of intermediate keys that meshroot holds because the cacerts Secret must carry
 * them: sealed for the row they belong to, opened only to emit a Secret or sign a CRL.
 */
export interface KeyVault {
  /** Short identifier of the master key. */
  readonly keyId: string;
  /** Encrypts `plaintext` bound to `aad`, the identity of the record that stores it. */
  seal(plaintext: Uint8Array, aad: string): Promise<Uint8Array>;
  /** Decrypts a sealed record; throws `decryption_failed` or `master_key_mismatch`. */
  open(sealed: Uint8Array, aad: string): Promise<Uint8Array<ArrayBuffer>>;
  /**
   * Hex HMAC-SHA256 of `message` under a key derived from the master key for `purpose` (never
   * stored in the database): signs the audit checkpoints. Absent when the custody offers none.
   */
  mac?(purpose: string, message: string): Promise<string>;
}

/**
 * What the core reports as it works: outcome counters for metrics, and changes to what the
 * public routes serve (so that their caches drop the old bytes). The core knows nothing of
 * Prometheus or HTTP caching.
 */
export interface Observer {
  issuance(outcome: "success" | "failure"): void;
  rotation(outcome: "success" | "failure" | "skipped"): void;
  revocation(outcome: "success" | "failure"): void;
  /** A trust domain's bundle changed (a root was added or left). */
  bundleChanged(trustDomain: string): void;
  /** A CRL of the trust domain was signed or uploaded. */
  crlChanged(trustDomain: string): void;
}

export const nullObserver: Observer = { issuance() {}, rotation() {}, revocation() {}, bundleChanged() {}, crlChanged() {} };

/** One Observer that tells each of `parts` what it listens to. */
export function combineObservers(...parts: Partial<Observer>[]): Observer {
  const all = (key: keyof Observer) => (arg: string) => {
    for (const p of parts) (p[key] as ((a: string) => void) | undefined)?.(arg);
  };
  return { issuance: all("issuance"), rotation: all("rotation"), revocation: all("revocation"), bundleChanged: all("bundleChanged"), crlChanged: all("crlChanged") };
}

import { afterEach, beforeEach, expect } from "vitest";
import { auditInput, systemContext, type AuditEvent, type AuditInput } from "../../../src/core/audit.js";
import type {
  ClusterRecord,
  CrlRecord,
  IntermediateRecord,
  Revocation,
  RootRecord,
  Store,
  TokenRecord,
  TrustDomainRecord,
} from "../../../src/core/ports.js";
import { DomainError } from "../../../src/errors.js";

/** Opens a fresh, empty, migrated store of one backend. */
export type OpenStore = () => Promise<{ store: Store; close(): Promise<void> | void }>;

/** A fresh store for every test of the enclosing describe: call at describe level, read inside tests. */
export function freshStore(open: OpenStore): () => Store {
  let current: Awaited<ReturnType<OpenStore>> | undefined;
  beforeEach(async () => {
    current = await open();
  });
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });
  return () => current!.store;
}

export const T0 = new Date("2026-01-15T12:00:00.000Z");
const DAY = 86_400_000;
/** T0 shifted by `days` (fractions allowed). */
export const day = (days: number) => new Date(T0.getTime() + days * DAY);

const CTX = systemContext("contract");
/** An audit input for a write; the store does not interpret it. */
export const audit = (action: string, id: string, scope: { cluster?: string | null; trustDomain?: string | null } = {}): AuditInput =>
  auditInput(CTX, T0, action, { type: "test", id }, scope, { note: action });

let counter = 0;
/** A new 32-hex-digit serial, unique in this process. */
export const newSerial = () => `${(0x40000000 + ++counter).toString(16)}${"0".repeat(24)}`.slice(0, 32);

export function domain(name: string, createdAt = T0): TrustDomainRecord {
  return { name, organization: `Org of ${name}`, caCrl: false, createdAt };
}

export function root(trustDomain: string, over: Partial<RootRecord> = {}): RootRecord {
  const serial = over.serial ?? newSerial();
  return {
    serial,
    trustDomain,
    generation: 1,
    status: "active",
    imported: false,
    keyAlgorithm: "ecdsa-p256",
    keyId: `aa${serial}`,
    certPem: `-----BEGIN CERTIFICATE-----\nroot ${serial}\n-----END CERTIFICATE-----\n`,
    keyRef: `sealed:root:${serial}:00ff10${serial}`,
    fingerprintSha256: `f0${serial}`.padEnd(64, "0"),
    notBefore: day(-1),
    notAfter: day(3650),
    createdAt: T0,
    ...over,
  };
}

export function cluster(name: string, trustDomain: string, over: Partial<ClusterRecord> = {}): ClusterRecord {
  return {
    name,
    trustDomain,
    labels: { env: "test", region: name },
    policy: { keyAlgorithm: "ecdsa-p256", validityDays: 90, renewBeforeDays: null },
    createdAt: T0,
    updatedAt: T0,
    decommissionedAt: null,
    ...over,
  };
}

/** Generation `generation` of a cluster's intermediate, escrowed, valid for 90 days from `createdAt`. */
export function intermediate(c: { name: string; trustDomain: string }, rootSerial: string, generation: number, over: Partial<IntermediateRecord> = {}): IntermediateRecord {
  const serial = over.serial ?? newSerial();
  const createdAt = over.createdAt ?? T0;
  return {
    serial,
    cluster: c.name,
    trustDomain: c.trustDomain,
    rootSerial,
    generation,
    status: "active",
    custody: "escrowed",
    keyAlgorithm: "ecdsa-p256",
    certPem: `-----BEGIN CERTIFICATE-----\nintermediate ${serial}\n-----END CERTIFICATE-----\n`,
    sealedKey: new Uint8Array([1, 2, 3, generation]),
    fingerprintSha256: `fe${serial}`.padEnd(64, "0"),
    notBefore: createdAt,
    notAfter: new Date(createdAt.getTime() + 90 * DAY),
    rotateAfter: new Date(createdAt.getTime() + 60 * DAY),
    supersedes: null,
    supersededBy: null,
    revokedAt: null,
    revocationReason: null,
    idempotencyKey: null,
    requestHash: null,
    createdAt,
    subject: `O=meshroot, CN=Intermediate CA, L=${c.name}, OU=generation-${generation}`,
    ...over,
  };
}

export function crl(issuer: { serial: string; trustDomain: string }, seq: number, over: Partial<CrlRecord> = {}): CrlRecord {
  return {
    issuerSerial: issuer.serial,
    issuerKind: "root",
    trustDomain: issuer.trustDomain,
    seq,
    crlNumber: seq,
    thisUpdate: T0,
    nextUpdate: day(7),
    entries: 0,
    der: new Uint8Array([0x30, 0x03, 0x02, 0x01, seq & 0xff]),
    uploaded: false,
    createdAt: T0,
    ...over,
  };
}

export function token(id: string, over: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id,
    name: `token ${id}`,
    role: "provisioner",
    clusterPatterns: ["east-*", "west"],
    trustDomains: ["cluster.local", "mesh.example.com"],
    tokenHash: `hash-of-${id}`.padEnd(64, "0"),
    createdAt: T0,
    expiresAt: day(30),
    lastUsedAt: null,
    revokedAt: null,
    ...over,
  };
}

/** A trust domain with its first root. */
export async function seedDomain(store: Store, name: string): Promise<RootRecord> {
  const r = root(name);
  await store.createTrustDomain(domain(name), r, audit("trust_domain.create", name, { trustDomain: name }));
  return r;
}

export async function seedCluster(store: Store, name: string, trustDomain: string, over: Partial<ClusterRecord> = {}): Promise<ClusterRecord> {
  const c = cluster(name, trustDomain, over);
  await store.createCluster(c, audit("cluster.create", name, { cluster: name, trustDomain }));
  return c;
}

/** Inserts the next generation of a cluster's intermediate, as issuance does. */
export async function issue(store: Store, c: { name: string; trustDomain: string }, rootSerial: string, over: Partial<IntermediateRecord> = {}): Promise<IntermediateRecord> {
  const latest = await store.getLatestIntermediate(c.name);
  const rec = intermediate(c, rootSerial, (latest?.generation ?? 0) + 1, { supersedes: latest?.status === "active" ? latest.serial : null, ...over });
  const { record, created } = await store.insertIntermediate(rec, audit("intermediate.issue", rec.serial, { cluster: c.name, trustDomain: c.trustDomain }));
  expect(created).toBe(true);
  return record;
}

/** The revocation of `serial` with the next CRL of its root. */
export async function revocation(store: Store, r: RootRecord, serial: string, revokedAt = T0, reason = "keyCompromise"): Promise<Revocation> {
  const latest = await store.getLatestCrl(r.serial);
  return { serial, revokedAt, reason, crl: crl(r, (latest?.seq ?? 0) + 1, { thisUpdate: revokedAt }) };
}

/** Every audit event, in seq order. */
export async function allAudit(store: Store): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const e of store.iterateAudit({})) if (out.push(e) > 100_000) break; // a paging bug must not loop forever
  return out;
}

export const auditCount = async (store: Store) => (await allAudit(store)).length;

/** Awaits `p` and returns the DomainError code it was rejected with (fails if it was fulfilled or rejected otherwise). */
export async function refusal(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "expected the store to refuse").toBeInstanceOf(DomainError);
  return (err as DomainError).code;
}

export const serials = (records: { serial: string }[]) => records.map((r) => r.serial);

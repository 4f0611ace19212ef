import * as nodeCrypto from "node:crypto";
import { createHash } from "node:crypto";

/**
 * The audit trail's model and its hash chain. The algorithm is documented in docs/audit.md so
 * that anyone can verify an export; keep the two in step.
 */

export const GENESIS_HASH = "0".repeat(64);

export type AuditOutcome = "success" | "denied" | "failure";

export interface Actor {
  /** `token` for API callers, `system` for the scheduler, the CLI and bootstrap. */
  type: "token" | "system" | "anonymous";
  id: string;
  name: string;
}

/** Who asked, from where: passed to every core operation that changes state. */
export interface AuditContext {
  actor: Actor;
  requestId: string | null;
  sourceIp: string | null;
}

/** The system actor for work nobody requested over the API. */
export function systemContext(name: string): AuditContext {
  return { actor: { type: "system", id: "system", name }, requestId: null, sourceIp: null };
}

export interface AuditInput extends AuditContext {
  at: Date;
  action: string;
  target: { type: string; id: string };
  cluster: string | null;
  trustDomain: string | null;
  outcome: AuditOutcome;
  /** Never a key, a token or a CSR body. */
  details: Record<string, unknown>;
}

export interface AuditEvent extends AuditInput {
  seq: number;
  prevHash: string;
  hash: string;
}

/** The JSON object that is hashed: every field of the event except `hash`, `at` as RFC 3339 with milliseconds. */
export function hashedFields(e: Omit<AuditEvent, "hash">) {
  return {
    seq: e.seq,
    at: e.at.toISOString(),
    actor: e.actor,
    action: e.action,
    target: e.target,
    cluster: e.cluster,
    trustDomain: e.trustDomain,
    outcome: e.outcome,
    requestId: e.requestId,
    sourceIp: e.sourceIp,
    details: e.details,
    prevHash: e.prevHash,
  };
}

/** Canonical JSON: object keys sorted (by UTF-16 code unit), no whitespace, JSON.stringify escaping. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

/** An event as stored: `at` in epoch milliseconds and `details` already as canonical JSON text. */
export interface StoredAuditFields {
  seq: number;
  at: number;
  actorType: string;
  actorId: string;
  actorName: string;
  action: string;
  targetType: string;
  targetId: string;
  cluster: string | null;
  trustDomain: string | null;
  outcome: string;
  requestId: string | null;
  sourceIp: string | null;
  detailsJson: string;
  prevHash: string;
}

const j = JSON.stringify;

/**
 * canonicalJson(hashedFields(e)) written out directly: the keys in their sorted order. Tests
 * hold the two equal; this form is what verification runs a million times.
 */
export function canonicalEvent(f: StoredAuditFields): string {
  return `{"action":${j(f.action)},"actor":{"id":${j(f.actorId)},"name":${j(f.actorName)},"type":${j(f.actorType)}},"at":${j(new Date(f.at).toISOString())},"cluster":${j(f.cluster)},"details":${f.detailsJson},"outcome":${j(f.outcome)},"prevHash":${j(f.prevHash)},"requestId":${j(f.requestId)},"seq":${f.seq},"sourceIp":${j(f.sourceIp)},"target":{"id":${j(f.targetId)},"type":${j(f.targetType)}},"trustDomain":${j(f.trustDomain)}}`;
}

/** The stored form of an event's hashed fields. */
export function storedFields(e: Omit<AuditEvent, "hash">): StoredAuditFields {
  return {
    seq: e.seq,
    at: e.at.getTime(),
    actorType: e.actor.type,
    actorId: e.actor.id,
    actorName: e.actor.name,
    action: e.action,
    targetType: e.target.type,
    targetId: e.target.id,
    cluster: e.cluster,
    trustDomain: e.trustDomain,
    outcome: e.outcome,
    requestId: e.requestId,
    sourceIp: e.sourceIp,
    detailsJson: canonicalJson(e.details),
    prevHash: e.prevHash,
  };
}

// crypto.hash (Node >= 20.12) is a one-shot digest, twice as fast as createHash for small inputs.
export const sha256Hex: (s: string) => string =
  typeof nodeCrypto.hash === "function"
    ? (s) => nodeCrypto.hash("sha256", s, "hex")
    : (s) => createHash("sha256").update(s, "utf8").digest("hex");

/** The stored form of an event: the canonical JSON its hash covers (`eventText`), and the hash. */
export interface StoredAuditEvent {
  seq: number;
  event: string;
  hash: string;
}

/** The canonical JSON of an event's hashed fields: what is hashed and what is stored. */
export function eventText(e: Omit<AuditEvent, "hash">): string {
  return canonicalEvent(storedFields(e));
}

/** hash = hex SHA-256 of the UTF-8 canonical JSON of the hashed fields (which include prevHash). */
export function eventHash(e: Omit<AuditEvent, "hash">): string {
  return sha256Hex(eventText(e));
}

/** An event back from its stored text. */
export function parseStoredEvent(s: StoredAuditEvent): AuditEvent {
  const f = JSON.parse(s.event) as Omit<AuditEvent, "at" | "hash"> & { at: string };
  return {
    seq: f.seq,
    at: new Date(f.at),
    actor: f.actor,
    action: f.action,
    target: f.target,
    cluster: f.cluster,
    trustDomain: f.trustDomain,
    outcome: f.outcome,
    requestId: f.requestId,
    sourceIp: f.sourceIp,
    details: f.details,
    prevHash: f.prevHash,
    hash: s.hash,
  };
}

/** The export form of an event: the hashed fields plus `hash` (one NDJSON line each). */
export function exportedEvent(e: AuditEvent) {
  return { ...hashedFields(e), hash: e.hash };
}

export interface ChainVerdict {
  ok: boolean;
  events: number;
  lastSeq: number;
  lastHash: string;
  firstBroken: { seq: number; reason: string } | null;
}

const PREV_HASH_KEY = '"prevHash":"';
const SEQ_KEY = ',"seq":';

/**
 * The top-level `seq` and `prevHash` of a canonical event text, without parsing it. Keys are
 * sorted, so these are the last occurrences: only `requestId`, `sourceIp`, `target` and
 * `trustDomain` follow `prevHash`, and a string value cannot hold an unescaped quote.
 * `details`, the only free-form object, comes before both. Returns null when absent.
 */
export function chainLinks(text: string): { seq: number; prevHash: string } | null {
  const p = text.lastIndexOf(PREV_HASH_KEY);
  const s = text.lastIndexOf(SEQ_KEY);
  if (p < 0 || s < p) return null;
  const start = s + SEQ_KEY.length;
  const end = text.indexOf(",", start);
  return { seq: Number(text.slice(start, end)), prevHash: text.slice(p + PREV_HASH_KEY.length, p + PREV_HASH_KEY.length + 64) };
}

/** Where a stretch of the chain starts: the seq and hash of the event before it. */
export interface ChainLink {
  seq: number;
  hash: string;
}

export const CHAIN_START: ChainLink = { seq: 0, hash: GENESIS_HASH };

/**
 * The chain check, one stored event at a time (in seq order): `check` returns the verdict when
 * the event breaks the chain (a gap in seq — a deleted event; a prevHash that is not the previous
 * hash — deleted or reordered; a hash that does not match the contents — edited), else null;
 * `done` is the verdict after the last event. `start` is the stored event just before the first
 * one, to verify a stretch of the chain on its own (the stretches are then combined).
 */
function chainChecker(start: ChainLink) {
  let prevHash = start.hash;
  let prevSeq = start.seq;
  let count = 0;
  return {
    check(e: StoredAuditEvent): ChainVerdict | null {
      const broken = (reason: string): ChainVerdict => ({ ok: false, events: count, lastSeq: prevSeq, lastHash: prevHash, firstBroken: { seq: e.seq, reason } });
      if (e.seq !== prevSeq + 1) return broken(`expected seq ${prevSeq + 1}, found ${e.seq}: events are missing or out of order`);
      if (sha256Hex(e.event) !== e.hash) return broken("hash does not match the event's contents: the event was edited");
      const links = chainLinks(e.event);
      if (links?.prevHash !== prevHash) return broken("prevHash is not the hash of the previous event: an event before it was removed, replaced or reordered");
      if (links.seq !== e.seq) return broken(`the event records seq ${links.seq} but is stored at ${e.seq}: events were renumbered`);
      prevHash = e.hash;
      prevSeq = e.seq;
      count++;
      return null;
    },
    done: (): ChainVerdict => ({ ok: true, events: count, lastSeq: prevSeq, lastHash: prevHash, firstBroken: null }),
  };
}

/** Recomputes the chain over stored events in seq order and reports the first broken event (see chainChecker). */
export function verifyChain(events: Iterable<StoredAuditEvent>, start: ChainLink = CHAIN_START): ChainVerdict {
  const checker = chainChecker(start);
  for (const e of events) {
    const verdict = checker.check(e);
    if (verdict) return verdict;
  }
  return checker.done();
}

/** verifyChain over events read as they come (from a storage port). */
export async function verifyChainAsync(events: AsyncIterable<StoredAuditEvent>, start: ChainLink = CHAIN_START): Promise<ChainVerdict> {
  const checker = chainChecker(start);
  for await (const e of events) {
    const verdict = checker.check(e);
    if (verdict) return verdict;
  }
  return checker.done();
}

/**
 * The verdict over consecutive stretches verified separately (in order, each started from the
 * stored event before it): the first broken stretch decides, and the counts add up, so the
 * result equals one pass over the whole chain.
 */
export function combineVerdicts(parts: ChainVerdict[]): ChainVerdict {
  let events = 0;
  let last: ChainVerdict = { ok: true, events: 0, lastSeq: CHAIN_START.seq, lastHash: CHAIN_START.hash, firstBroken: null };
  for (const part of parts) {
    events += part.events;
    last = part;
    if (!part.ok) break;
  }
  return { ...last, events };
}

/** Builds the audit record of one action at `at`, by the caller in `ctx`. */
export function auditInput(
  ctx: AuditContext,
  at: Date,
  action: string,
  target: { type: string; id: string },
  scope: { cluster?: string | null; trustDomain?: string | null },
  details: Record<string, unknown> = {},
  outcome: AuditOutcome = "success",
): AuditInput {
  return { ...ctx, at, action, target, cluster: scope.cluster ?? null, trustDomain: scope.trustDomain ?? null, outcome, details };
}

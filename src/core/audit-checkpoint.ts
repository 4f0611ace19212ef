/**
 * Checkpoints of the audit chain's head: the head (seq, hash) at a time, MACed with a key derived
 * from the master key, which is not in the database. The chain alone proves that nothing inside
 * it changed; a checkpoint proves where it ended, so cutting or re-hashing the tail shows. The
 * algorithm is documented in docs/audit.md; keep the two in step.
 */

export const CHECKPOINT_PURPOSE = "meshroot-audit-checkpoint";

/** A signed head of the chain, as stored. */
export interface AuditCheckpoint {
  seq: number;
  hash: string;
  at: Date;
  /** Hex HMAC-SHA256 of checkpointMessage() under the checkpoint key. */
  mac: string;
}

/** Computes the hex MAC of a message (the KeyVault's `mac`, bound to the checkpoint purpose). */
export type CheckpointMac = (message: string) => Promise<string>;

/** The exact bytes the MAC covers: "meshroot-audit-checkpoint:v1:<seq>:<hash>:<at RFC 3339 ms>". */
export function checkpointMessage(c: { seq: number; hash: string; at: Date }): string {
  return `${CHECKPOINT_PURPOSE}:v1:${c.seq}:${c.hash}:${c.at.toISOString()}`;
}

/** A checkpoint of `head` at `at`. */
export async function signCheckpoint(mac: CheckpointMac, head: { seq: number; hash: string }, at: Date): Promise<AuditCheckpoint> {
  const c = { seq: head.seq, hash: head.hash, at };
  return { ...c, mac: await mac(checkpointMessage(c)) };
}

/** True when the checkpoint's MAC is the one the key gives (compared in constant time). */
export async function checkpointMacValid(mac: CheckpointMac, c: AuditCheckpoint): Promise<boolean> {
  const expected = await mac(checkpointMessage(c));
  if (expected.length !== c.mac.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ c.mac.charCodeAt(i);
  return diff === 0;
}

export type CheckpointStatus = "ok" | "none" | "unavailable" | "tampered" | "truncated" | "rewritten";

/** What the newest checkpoint says about the chain. `ok`, `none` and `unavailable` are not failures. */
export interface CheckpointVerdict {
  status: CheckpointStatus;
  checkpoint: { seq: number; hash: string; at: string } | null;
  /** Events after the checkpoint: appended since it was made, not yet anchored by one. */
  eventsAfter: number;
  reason: string | null;
}

/** What the chain holds at the checkpoint's seq, and its last seq. */
export interface ChainFacts {
  lastSeq: number;
  hashAt: (seq: number) => Promise<string | undefined>;
}

/** Judges the newest checkpoint against the chain (pure apart from the MAC and the lookups given). */
export async function judgeCheckpoint(c: AuditCheckpoint | undefined, mac: CheckpointMac | undefined, chain: ChainFacts): Promise<CheckpointVerdict> {
  if (!c) return { status: "none", checkpoint: null, eventsAfter: chain.lastSeq, reason: null };
  const checkpoint = { seq: c.seq, hash: c.hash, at: c.at.toISOString() };
  const verdict = (status: CheckpointStatus, reason: string | null, eventsAfter = Math.max(0, chain.lastSeq - c.seq)): CheckpointVerdict => ({ status, checkpoint, eventsAfter, reason });
  if (!mac) return verdict("unavailable", "the key custody offers no MAC: the checkpoint cannot be checked");
  if (!(await checkpointMacValid(mac, c))) {
    return verdict("tampered", "the newest checkpoint's MAC does not verify under this master key: the checkpoint was forged or edited");
  }
  if (chain.lastSeq < c.seq) {
    return verdict("truncated", `the chain ends at seq ${chain.lastSeq} but a checkpoint of ${checkpoint.at} records seq ${c.seq}: events were deleted from the end`, 0);
  }
  const hash = await chain.hashAt(c.seq);
  if (hash !== c.hash) {
    return verdict("rewritten", `the event at seq ${c.seq} has hash ${hash ?? "(none)"} but the checkpoint records ${c.hash}: the chain was rewritten and re-hashed`);
  }
  return verdict("ok", null);
}

/** A head an operator recorded elsewhere (the log line, the metric): `<seq>:<hash>`. */
export interface ExpectedHead {
  seq: number;
  hash: string;
}

export interface ExpectedHeadVerdict extends ExpectedHead {
  ok: boolean;
  /** Events after the expected head that no valid checkpoint covers. */
  unanchored: number;
  reason: string | null;
}

/** Parses `<seq>:<hash>`; undefined when malformed. */
export function parseExpectedHead(s: string): ExpectedHead | undefined {
  const m = /^(\d{1,15}):([0-9a-f]{64})$/.exec(s.trim());
  return m ? { seq: Number(m[1]), hash: m[2]! } : undefined;
}

/**
 * The chain must contain the expected head, and every event after it must be covered by a valid
 * checkpoint (meshroot made them, with the key): events appended by someone without the key are
 * covered by none.
 */
export async function judgeExpectedHead(e: ExpectedHead, checkpoint: CheckpointVerdict, chain: ChainFacts): Promise<ExpectedHeadVerdict> {
  const fail = (reason: string, unanchored = 0): ExpectedHeadVerdict => ({ ...e, ok: false, unanchored, reason });
  if (chain.lastSeq < e.seq) return fail(`the chain ends at seq ${chain.lastSeq}, before the expected head ${e.seq}: events were deleted from the end`);
  const hash = await chain.hashAt(e.seq);
  if (hash !== e.hash) return fail(`the event at seq ${e.seq} has hash ${hash ?? "(none)"}, not the expected ${e.hash}: the chain was rewritten`);
  const anchoredTo = checkpoint.status === "ok" && checkpoint.checkpoint ? Math.max(e.seq, checkpoint.checkpoint.seq) : e.seq;
  const unanchored = chain.lastSeq - anchoredTo;
  if (unanchored > 0) return fail(`${unanchored} events after seq ${anchoredTo} are covered neither by the expected head nor by a valid checkpoint`, unanchored);
  return { ...e, ok: true, unanchored: 0, reason: null };
}

import type { Clock } from "../clock.js";
import { auditInput, GENESIS_HASH, verifyChainAsync, type AuditContext, type AuditEvent, type AuditOutcome, type ChainVerdict } from "./audit.js";
import {
  CHECKPOINT_PURPOSE,
  judgeCheckpoint,
  judgeExpectedHead,
  signCheckpoint,
  type AuditCheckpoint,
  type CheckpointMac,
  type CheckpointVerdict,
  type ExpectedHead,
  type ExpectedHeadVerdict,
} from "./audit-checkpoint.js";
import type { AuditFilter, KeyVault, Store } from "./ports.js";

type Deps = {
  store: Pick<
    Store,
    | "appendAudit"
    | "listAudit"
    | "iterateAudit"
    | "readAuditChain"
    | "verifyAuditInParallel"
    | "auditHead"
    | "auditHashAt"
    | "insertAuditCheckpoint"
    | "latestAuditCheckpoint"
    | "listRowsWithoutCreationEvent"
  >;
  clock: Clock;
  /** Signs and checks checkpoints (its `mac`); without one, checkpoints are neither made nor checked. */
  vault?: Pick<KeyVault, "mac"> | undefined;
};

/** The whole verdict: the chain, the newest checkpoint, the rows without their creation event, and an expected head. */
export interface AuditVerdict extends ChainVerdict {
  /** The chain's own verdict (`ok` above also needs the checkpoint, the cross-check and the expected head). */
  chainOk: boolean;
  checkpoint: CheckpointVerdict;
  missingCreationEvents: { kind: "token" | "intermediate"; id: string }[];
  expectedHead: ExpectedHeadVerdict | null;
}

const CHECKPOINT_FAILURES = new Set(["tampered", "truncated", "rewritten"]);

/** Reading and verifying the audit trail, and recording events that change no other state. */
export function auditService({ store, clock, vault }: Deps) {
  const mac: CheckpointMac | undefined = vault?.mac ? (m) => vault.mac!(CHECKPOINT_PURPOSE, m) : undefined;
  return {
    /** Appends an event that accompanies no state change (a denied request, a read of key material). */
    record(
      ctx: AuditContext,
      action: string,
      target: { type: string; id: string },
      scope: { cluster?: string | null; trustDomain?: string | null },
      details: Record<string, unknown>,
      outcome: AuditOutcome,
    ): Promise<AuditEvent> {
      return store.appendAudit(auditInput(ctx, clock.now(), action, target, scope, details, outcome));
    },
    /** Newest first; `before` is the seq to continue below. */
    list: (filter: AuditFilter, page: { limit: number; before?: number | undefined }) => store.listAudit(filter, page),
    /** Matching events in seq order, read in pages as they are consumed. */
    iterate: (filter: AuditFilter): AsyncIterable<AuditEvent> => store.iterateAudit(filter),
    /**
     * Recomputes the whole chain and reports the first broken event: in parallel where the
     * backend offers it (same verdict), else in one pass over the stored chain.
     */
    async verify(options: { expectHead?: ExpectedHead | undefined } = {}): Promise<AuditVerdict> {
      const chain = (await store.verifyAuditInParallel?.()) ?? (await verifyChainAsync(store.readAuditChain()));
      // The stored end of the trail, even past a break: a cut below the checkpoint must show either way.
      const facts = { lastSeq: (await store.auditHead())?.seq ?? 0, hashAt: (seq: number) => store.auditHashAt(seq) };
      const checkpoint = await judgeCheckpoint(await store.latestAuditCheckpoint(), mac, facts);
      const missingCreationEvents = await store.listRowsWithoutCreationEvent();
      const expectedHead = options.expectHead ? await judgeExpectedHead(options.expectHead, checkpoint, facts) : null;
      const ok = chain.ok && !CHECKPOINT_FAILURES.has(checkpoint.status) && missingCreationEvents.length === 0 && (expectedHead?.ok ?? true);
      return { ...chain, ok, chainOk: chain.ok, checkpoint, missingCreationEvents, expectedHead };
    },
    /** The chain head (seq and hash of the newest event); seq 0 and the genesis hash when empty. */
    async head(): Promise<{ seq: number; hash: string }> {
      return (await store.auditHead()) ?? { seq: 0, hash: GENESIS_HASH };
    },
    /**
     * Signs a checkpoint of the current head and stores it, unless the newest checkpoint is
     * already at the head. Undefined when nothing was written (no key custody MAC, empty trail,
     * or nothing new).
     */
    async checkpoint(): Promise<AuditCheckpoint | undefined> {
      if (!mac) return undefined;
      const head = await store.auditHead();
      if (!head) return undefined;
      const latest = await store.latestAuditCheckpoint();
      if (latest && latest.seq === head.seq && latest.hash === head.hash) return undefined;
      const c = await signCheckpoint(mac, head, clock.now());
      await store.insertAuditCheckpoint(c);
      return c;
    },
  };
}

export type AuditService = ReturnType<typeof auditService>;

import type { Clock } from "../clock.js";
import { auditInput, verifyChainAsync, type AuditContext, type AuditEvent, type AuditOutcome, type ChainVerdict } from "./audit.js";
import type { AuditFilter, Store } from "./ports.js";

type Deps = { store: Pick<Store, "appendAudit" | "listAudit" | "iterateAudit" | "readAuditChain" | "verifyAuditInParallel">; clock: Clock };

/** Reading and verifying the audit trail, and recording events that change no other state. */
export function auditService({ store, clock }: Deps) {
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
    async verify(): Promise<ChainVerdict> {
      return (await store.verifyAuditInParallel?.()) ?? verifyChainAsync(store.readAuditChain());
    },
  };
}

export type AuditService = ReturnType<typeof auditService>;

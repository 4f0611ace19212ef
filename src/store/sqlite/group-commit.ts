import type { AuditInput } from "../../core/audit.js";
import type { IntermediateRecord } from "../../core/ports.js";
import type { AuditAppender } from "./audit-store.js";
import type { Db } from "./database.js";
import { issueTransaction, type IssueOutcome, type PendingIssue } from "./issue-transaction.js";

/** How issuances reach the database: `submit` answers once its commit is durable (or refused). */
export interface IssuanceCommitter {
  submit(rec: IntermediateRecord, audit: AuditInput): Promise<{ record: IntermediateRecord; created: boolean }>;
  /** A read of `cluster`'s latest generation: an insert for it is probably on its way. */
  notice(cluster: string): void;
  /** Ends it; issuances already submitted are answered first. */
  close(): Promise<void>;
}

/** Group commit in this thread: how many issuances share one commit at most, and how long a batch waits at most for noticed ones. */
const GROUP_COMMIT_MAX = 64;
const GROUP_COMMIT_WINDOW_MS = 5;
/** How long a read of the latest generation counts as notice of an insert to come. */
const EXPECT_MS = 50;

/** A submitted issuance and its caller, waiting for its commit. */
export type Pending = PendingIssue & { resolve: (r: { record: IntermediateRecord; created: boolean }) => void; reject: (e: unknown) => void };

/** Answers each caller from its outcome (a created outcome is its own record). */
export function settle(items: readonly Pending[], outcomes: readonly IssueOutcome[]): void {
  outcomes.forEach((o, i) => (o.ok ? items[i]!.resolve({ record: o.record ?? items[i]!.rec, created: o.created }) : items[i]!.reject(o.error)));
}

/**
 * Group commit on the caller's connection, in this thread (an in-memory database, tests):
 * issuances share one transaction, so one fsync. Every issuance reads its cluster's latest
 * generation (to number the next one) a few milliseconds before it inserts, so that read is
 * taken as notice that an insert is coming: a queued insert waits until every noticed issuance
 * has inserted (or EXPECT_MS passed since its read), at most GROUP_COMMIT_WINDOW_MS. Waiting for
 * the whole wave keeps concurrent issuers in step, which is what makes batches large when the
 * commit blocks the event loop. Other readers of the latest generation (cluster views) can make
 * a write wait, never more than the window. Each item keeps its own savepoint, so one refusal
 * does not undo the others; callers are answered only after the commit.
 */
export function inThreadGroupCommit(db: Db, append: AuditAppender): IssuanceCommitter {
  const { commit } = issueTransaction(db, append);
  const queue: Pending[] = [];
  /** Reads of a cluster's latest generation not yet followed by its insert, oldest first. */
  const noticed = new Map<string, { open: boolean }[]>();
  let expected = 0;
  const close = (cluster: string, notice: { open: boolean }) => {
    if (!notice.open) return;
    notice.open = false;
    expected--;
    const list = noticed.get(cluster)!;
    list.splice(list.indexOf(notice), 1);
    if (list.length === 0) noticed.delete(cluster);
  };
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const flush = () => {
    clearTimeout(timer);
    clearImmediate(immediate);
    timer = immediate = undefined;
    const items = queue.splice(0);
    if (items.length === 0) return;
    let outcomes;
    try {
      outcomes = commit(items);
    } catch (error) {
      for (const it of items) it.reject(error);
      return;
    }
    settle(items, outcomes);
  };
  /**
   * Commits at the end of this turn when no noticed issuance is still on its way (inserts of one
   * turn share it), at once when the batch is full, else within the window.
   */
  const schedule = () => {
    if (queue.length === 0) return;
    if (queue.length >= GROUP_COMMIT_MAX) flush();
    else if (expected <= 0) immediate ??= setImmediate(flush);
    else timer ??= setTimeout(flush, GROUP_COMMIT_WINDOW_MS);
  };
  return {
    submit(rec, audit) {
      return new Promise((resolve, reject) => {
        queue.push({ rec, audit, resolve, reject });
        const first = noticed.get(rec.cluster)?.[0];
        if (first) close(rec.cluster, first);
        schedule();
      });
    },
    notice(cluster) {
      const n = { open: true };
      expected++;
      noticed.set(cluster, [...(noticed.get(cluster) ?? []), n]);
      setTimeout(() => {
        close(cluster, n);
        schedule();
      }, EXPECT_MS).unref();
    },
    async close() {
      flush();
    },
  };
}

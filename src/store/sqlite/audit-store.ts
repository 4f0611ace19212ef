import type { Statement } from "better-sqlite3";
import { eventText, GENESIS_HASH, parseStoredEvent, sha256Hex, type AuditEvent, type AuditInput } from "../../core/audit.js";
import type { AuditFilter, AuditStore } from "../../core/ports.js";
import { verifyInParallel } from "./audit-verify.js";
import type { Db } from "./database.js";

/** A row as read: the canonical event text its hash covers, and the hash (every other column is generated from the text). */
export interface AuditRow {
  seq: number;
  event: string;
  hash: string;
}

export const toAuditEvent = (r: AuditRow): AuditEvent => parseStoredEvent(r);

/**
 * Appends one event inside the caller's transaction: reads the last hash, chains to it, inserts.
 * Call only within a write transaction (BEGIN IMMEDIATE), so that the chain cannot fork.
 */
export type AuditAppender = (input: AuditInput) => AuditEvent;

export function auditAppender(db: Db): AuditAppender {
  const last = db.prepare("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1");
  const insert = db.prepare("INSERT INTO audit_events (seq, event, hash) VALUES (?, ?, ?)");
  return (input) => {
    const prev = last.get() as { seq: number; hash: string } | undefined;
    // The event is hashed as it will read back: details round-trip through JSON.
    const details = JSON.parse(JSON.stringify(input.details)) as Record<string, unknown>;
    const partial = { ...input, details, seq: (prev?.seq ?? 0) + 1, prevHash: prev?.hash ?? GENESIS_HASH };
    const text = eventText(partial);
    const event: AuditEvent = { ...partial, hash: sha256Hex(text) };
    insert.run(event.seq, text, event.hash);
    return event;
  };
}

const FILTERS: [keyof AuditFilter, string][] = [
  ["action", "action = @action"],
  ["actor", "actor_id = @actor"],
  ["cluster", "cluster = @cluster"],
  ["trustDomain", "trust_domain = @trustDomain"],
  ["outcome", "outcome = @outcome"],
  ["target", "target_id = @target"],
];

function where(filter: AuditFilter, extra: string[] = []): { sql: string; params: Record<string, unknown> } {
  const clauses = [...extra];
  const params: Record<string, unknown> = {};
  for (const [key, clause] of FILTERS) {
    if (filter[key] !== undefined) {
      clauses.push(clause);
      params[key] = filter[key];
    }
  }
  if (filter.since) {
    clauses.push("at >= @since");
    params.since = filter.since.getTime();
  }
  if (filter.until) {
    clauses.push("at < @until");
    params.until = filter.until.getTime();
  }
  return { sql: clauses.length ? `WHERE ${clauses.join(" AND ")}` : "", params };
}

/**
 * Rows per query when the trail is read in full. A page is read to its end before its events
 * are handed out, so a slow reader (an export streamed to a slow client) never holds a statement
 * open across an await: better-sqlite3 refuses every other statement on the connection while one is.
 */
const AUDIT_PAGE = 500;

/** The audit trail in SQLite: appended in the writers' transactions, read by filters and in full. */
export function sqliteAuditStore(
  db: Db,
  append: AuditAppender,
): Omit<AuditStore, "auditHead" | "latestAuditSeq" | "auditHashAt" | "insertAuditCheckpoint" | "latestAuditCheckpoint" | "listRowsWithoutCreationEvent"> {
  const appendTx = db.transaction((input: AuditInput) => append(input));
  const statements = new Map<string, Statement>();
  const cached = (sql: string) => {
    let s = statements.get(sql);
    if (!s) {
      s = db.prepare(sql);
      statements.set(sql, s);
    }
    return s;
  };
  // Raw rows: verification reads a million of them, and building an object per row costs more than reading it.
  const chainPage = db.prepare(`SELECT seq, event, hash FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ${AUDIT_PAGE}`).raw(true);
  return {
    async appendAudit(input) {
      return appendTx.immediate(input);
    },
    async listAudit(filter, page) {
      const { sql, params } = where(filter, page.before !== undefined ? ["seq < @before"] : []);
      const rows = cached(`SELECT seq, event, hash FROM audit_events ${sql} ORDER BY seq DESC LIMIT @limit`).all({
        ...params,
        ...(page.before !== undefined ? { before: page.before } : {}),
        limit: page.limit,
      }) as AuditRow[];
      return rows.map(toAuditEvent);
    },
    async *iterateAudit(filter) {
      const { sql, params } = where(filter, ["seq > @after"]);
      const page = cached(`SELECT seq, event, hash FROM audit_events ${sql} ORDER BY seq LIMIT ${AUDIT_PAGE}`);
      for (let after = Number.MIN_SAFE_INTEGER; ; ) {
        const rows = page.all({ ...params, after }) as AuditRow[];
        for (const row of rows) yield toAuditEvent(row);
        if (rows.length < AUDIT_PAGE) return;
        after = rows[rows.length - 1]!.seq;
      }
    },
    async *readAuditChain() {
      for (let after = Number.MIN_SAFE_INTEGER; ; ) {
        const rows = chainPage.all(after) as [number, string, string][];
        for (const [seq, event, hash] of rows) yield { seq, event, hash };
        if (rows.length < AUDIT_PAGE) return;
        after = rows[rows.length - 1]![0];
      }
    },
    verifyAuditInParallel: () => verifyInParallel(db),
  };
}

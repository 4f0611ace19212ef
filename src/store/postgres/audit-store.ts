import { randomBytes, randomInt } from "node:crypto";
import { eventText, GENESIS_HASH, parseStoredEvent, sha256Hex, verifyChainAsync, type AuditEvent, type AuditInput } from "../../core/audit.js";
import type { AuditFilter, AuditStore } from "../../core/ports.js";
import type { PgDb, Sql } from "./pool.js";

/** The channel every audited write notifies on commit (payload: the event's trust domain or ""): other replicas drop their caches. */
export const CHANGE_CHANNEL = "meshroot_change";

interface AuditRow {
  seq: number;
  event: string;
  hash: string;
}

const toAuditEvent = (r: AuditRow): AuditEvent => parseStoredEvent(r);

/**
 * Appends one event inside the caller's transaction: reads the chain head, chains to it, inserts.
 * Call only in a transaction that holds the audit lock (PgDb.tx does by default), so that the
 * chain cannot fork; seq is the primary key as a backstop.
 */
export type AuditAppender = (c: Sql, input: AuditInput, cursor?: ChainCursor) => Promise<AuditEvent>;

/**
 * The chain head as a transaction last wrote it: a batch of appends in one locked transaction
 * reads the head once (`undefined`: not read yet; `null`: the trail is empty).
 */
export interface ChainCursor {
  head: { seq: number; hash: string } | null | undefined;
}

/** The chain head as the last committed event left it (null: the trail is empty). Call under the audit lock. */
export async function readChainHead(c: Sql): Promise<{ seq: number; hash: string } | null> {
  const { rows } = await c.query<{ seq: number; hash: string }>("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1");
  return rows[0] ?? null;
}

/** The event `input` becomes when chained to `prev`: its seq, canonical text and hash (nothing written). */
export function chainEvent(input: AuditInput, prev: { seq: number; hash: string } | null): { event: AuditEvent; text: string } {
  // The event is hashed as it will read back: details round-trip through JSON.
  const details = JSON.parse(JSON.stringify(input.details)) as Record<string, unknown>;
  const partial = { ...input, details, seq: (prev?.seq ?? 0) + 1, prevHash: prev?.hash ?? GENESIS_HASH };
  const text = eventText(partial);
  return { event: { ...partial, hash: sha256Hex(text) }, text };
}

/**
 * The canonical text of `input`'s event in three parts around the two values that depend on the
 * chain head: text = head + JSON string of prevHash + mid + seq + tail. Found by chaining to a
 * random head and locating its values, so it follows eventText whatever its layout; undefined
 * when they are not each found once, in that order (the caller then chains in the process).
 */
export function splitEventText(input: AuditInput): { head: string; mid: string; tail: string } | undefined {
  const prev = { seq: 1e15 + randomInt(2 ** 40), hash: randomBytes(32).toString("hex") };
  const { text } = chainEvent(input, prev);
  const hash = JSON.stringify(prev.hash);
  const seq = String(prev.seq + 1);
  const h = text.indexOf(hash);
  const s = text.indexOf(seq, h + hash.length);
  if (h < 0 || s < 0 || text.indexOf(hash, h + 1) >= 0 || text.indexOf(seq, s + 1) >= 0 || text.slice(0, h).includes(seq)) return undefined;
  return { head: text.slice(0, h), mid: text.slice(h + hash.length, s), tail: text.slice(s + seq.length) };
}

export const appendAudit: AuditAppender = async (c, input, cursor) => {
  let prev = cursor?.head;
  if (prev === undefined) prev = await readChainHead(c);
  const { event, text } = chainEvent(input, prev);
  // One round trip: the insert, and the notification (delivered to listeners only when this transaction commits).
  await c.query("WITH e AS (INSERT INTO audit_events (seq, event, hash, at) VALUES ($1, $2, $3, $4) RETURNING seq) SELECT pg_notify($5, $6) FROM e", [
    event.seq,
    text,
    event.hash,
    input.at.getTime(),
    CHANGE_CHANNEL,
    input.trustDomain ?? "",
  ]);
  if (cursor) cursor.head = { seq: event.seq, hash: event.hash };
  return event;
};

const FILTERS: [keyof AuditFilter, string][] = [
  ["action", "action"],
  ["actor", "actor_id"],
  ["cluster", "cluster"],
  ["trustDomain", "trust_domain"],
  ["outcome", "outcome"],
  ["target", "target_id"],
];

function where(filter: AuditFilter, params: unknown[]): string {
  const clauses: string[] = [];
  const bind = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  for (const [key, column] of FILTERS) if (filter[key] !== undefined) clauses.push(`${column} = ${bind(filter[key])}`);
  if (filter.since) clauses.push(`at >= ${bind(filter.since.getTime())}`);
  if (filter.until) clauses.push(`at < ${bind(filter.until.getTime())}`);
  return clauses.join(" AND ");
}

/** Rows per query when the trail is read in full: a slow reader holds no connection between pages. */
const AUDIT_PAGE = 500;

/** The audit trail in PostgreSQL: appended in the writers' transactions, read by filters and in full. */
export function postgresAuditStore(
  db: PgDb,
): Omit<AuditStore, "auditHead" | "latestAuditSeq" | "auditHashAt" | "insertAuditCheckpoint" | "latestAuditCheckpoint" | "listRowsWithoutCreationEvent"> {
  async function* pages(filter: AuditFilter): AsyncGenerator<AuditRow> {
    for (let after = Number.MIN_SAFE_INTEGER; ; ) {
      const params: unknown[] = [after];
      const w = where(filter, params);
      const { rows } = await db.sql.query<AuditRow>(
        `SELECT seq, event, hash FROM audit_events WHERE seq > $1 ${w ? `AND ${w}` : ""} ORDER BY seq LIMIT ${AUDIT_PAGE}`,
        params,
      );
      for (const row of rows) yield row;
      if (rows.length < AUDIT_PAGE) return;
      after = rows[rows.length - 1]!.seq;
    }
  }
  const store = {
    async appendAudit(input: AuditInput) {
      return db.tx((c) => appendAudit(c, input));
    },
    async listAudit(filter: AuditFilter, page: { limit: number; before?: number | undefined }) {
      const params: unknown[] = [];
      const clauses = [where(filter, params)];
      if (page.before !== undefined) {
        params.push(page.before);
        clauses.push(`seq < $${params.length}`);
      }
      params.push(page.limit);
      const w = clauses.filter(Boolean).join(" AND ");
      const { rows } = await db.sql.query<AuditRow>(`SELECT seq, event, hash FROM audit_events ${w ? `WHERE ${w}` : ""} ORDER BY seq DESC LIMIT $${params.length}`, params);
      return rows.map(toAuditEvent);
    },
    async *iterateAudit(filter: AuditFilter) {
      for await (const row of pages(filter)) yield toAuditEvent(row);
    },
    async *readAuditChain() {
      yield* pages({});
    },
  };
  return store;
}

/** Verifies the whole stored chain in one pass (what `meshroot audit verify` and migrate-data check). */
export function verifyPostgresChain(store: Pick<AuditStore, "readAuditChain">) {
  return verifyChainAsync(store.readAuditChain());
}

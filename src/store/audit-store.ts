import type { Statement } from "better-sqlite3";
import { canonicalJson, eventHash, GENESIS_HASH, type AuditEvent, type AuditInput, type AuditOutcome, type StoredAuditFields } from "../ca/audit.js";
import type { AuditFilter, AuditStore } from "../ca/store.js";
import type { Db } from "./database.js";

export interface AuditRow {
  seq: number;
  at: number;
  actor_type: AuditEvent["actor"]["type"];
  actor_id: string;
  actor_name: string;
  action: string;
  target_type: string;
  target_id: string;
  cluster: string | null;
  trust_domain: string | null;
  outcome: AuditOutcome;
  request_id: string | null;
  source_ip: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

export const toAuditEvent = (r: AuditRow): AuditEvent => ({
  seq: r.seq,
  at: new Date(r.at),
  actor: { type: r.actor_type, id: r.actor_id, name: r.actor_name },
  action: r.action,
  target: { type: r.target_type, id: r.target_id },
  cluster: r.cluster,
  trustDomain: r.trust_domain,
  outcome: r.outcome,
  requestId: r.request_id,
  sourceIp: r.source_ip,
  details: JSON.parse(r.details) as Record<string, unknown>,
  prevHash: r.prev_hash,
  hash: r.hash,
});

/**
 * Appends one event inside the caller's transaction: reads the last hash, chains to it, inserts.
 * Call only within a write transaction (BEGIN IMMEDIATE), so that the chain cannot fork.
 */
export type AuditAppender = (input: AuditInput) => AuditEvent;

export function auditAppender(db: Db): AuditAppender {
  const last = db.prepare("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1");
  const insert = db.prepare(`INSERT INTO audit_events (seq, at, actor_type, actor_id, actor_name, action, target_type, target_id,
      cluster, trust_domain, outcome, request_id, source_ip, details, prev_hash, hash)
    VALUES (@seq, @at, @actorType, @actorId, @actorName, @action, @targetType, @targetId, @cluster, @trustDomain, @outcome,
      @requestId, @sourceIp, @details, @prevHash, @hash)`);
  return (input) => {
    const prev = last.get() as { seq: number; hash: string } | undefined;
    // The event is hashed as it will read back: details round-trip through JSON.
    const details = JSON.parse(JSON.stringify(input.details)) as Record<string, unknown>;
    const partial = { ...input, details, seq: (prev?.seq ?? 0) + 1, prevHash: prev?.hash ?? GENESIS_HASH };
    const event: AuditEvent = { ...partial, hash: eventHash(partial) };
    insert.run({
      seq: event.seq,
      at: event.at.getTime(),
      actorType: event.actor.type,
      actorId: event.actor.id,
      actorName: event.actor.name,
      action: event.action,
      targetType: event.target.type,
      targetId: event.target.id,
      cluster: event.cluster,
      trustDomain: event.trustDomain,
      outcome: event.outcome,
      requestId: event.requestId,
      sourceIp: event.sourceIp,
      details: canonicalJson(event.details),
      prevHash: event.prevHash,
      hash: event.hash,
    });
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

/** The audit trail in SQLite: appended in the writers' transactions, read by filters and in full. */
export function sqliteAuditStore(db: Db, append: AuditAppender): AuditStore {
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
  return {
    async appendAudit(input) {
      return appendTx.immediate(input);
    },
    async listAudit(filter, page) {
      const { sql, params } = where(filter, page.before !== undefined ? ["seq < @before"] : []);
      const rows = cached(`SELECT * FROM audit_events ${sql} ORDER BY seq DESC LIMIT @limit`).all({
        ...params,
        ...(page.before !== undefined ? { before: page.before } : {}),
        limit: page.limit,
      }) as AuditRow[];
      return rows.map(toAuditEvent);
    },
    *iterateStoredAudit() {
      const rows = cached("SELECT seq, at, actor_type, actor_id, actor_name, action, target_type, target_id, cluster, trust_domain, outcome, request_id, source_ip, details, prev_hash, hash FROM audit_events ORDER BY seq").raw(true);
      for (const r of rows.iterate() as Iterable<unknown[]>) {
        yield {
          seq: r[0] as number,
          at: r[1] as number,
          actorType: r[2] as string,
          actorId: r[3] as string,
          actorName: r[4] as string,
          action: r[5] as string,
          targetType: r[6] as string,
          targetId: r[7] as string,
          cluster: r[8] as string | null,
          trustDomain: r[9] as string | null,
          outcome: r[10] as string,
          requestId: r[11] as string | null,
          sourceIp: r[12] as string | null,
          detailsJson: r[13] as string,
          prevHash: r[14] as string,
          hash: r[15] as string,
        } satisfies StoredAuditFields & { hash: string };
      }
    },
    *iterateAudit(filter) {
      const { sql, params } = where(filter);
      for (const row of cached(`SELECT * FROM audit_events ${sql} ORDER BY seq`).iterate(params)) yield toAuditEvent(row as AuditRow);
    },
  };
}

import pg from "pg";
import { DomainError } from "../../errors.js";

/** Socket errors of a lost or refused connection. */
const NET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);

/**
 * Whether `err` says the database cannot be reached (rather than refusing this statement): a
 * socket error, PostgreSQL's connection exceptions (class 08), a server shutting down or not yet
 * up (57P01-57P03), too many connections (53300), or the pool's connect and query timeouts.
 */
export function isUnavailable(err: unknown): boolean {
  const code = String((err as { code?: unknown } | null)?.code ?? "");
  if (NET_CODES.has(code) || code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03" || code === "53300") return true;
  return /Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error/i.test(String((err as Error | null)?.message ?? ""));
}

/** A lost database as the problem the API answers (503 database_unavailable); other errors as they are. */
function asProblem(err: unknown): unknown {
  return isUnavailable(err) && !(err instanceof DomainError)
    ? new DomainError("database_unavailable", "the database cannot be reached just now; retry the request (with the same Idempotency-Key where it takes one: a write cut off at its commit may have landed)")
    : err;
}

/** Anything that runs a query: the pool (autocommit reads) or a client inside a transaction. */
export interface Sql {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/**
 * The audit trail's lock (pg_advisory_xact_lock key): every transaction that appends an audit
 * event takes it before it reads anything, so writers from every replica commit one after
 * another, each chaining to the event committed just before it (as SQLite's single writer does).
 */
export const AUDIT_LOCK = 0x6d657368_726f6f74n; // "meshroot"
/** Held (session level) by the one replica that runs the background jobs. */
export const LEADER_LOCK = 0x6d657368_6c656164n; // "meshlead"
/** Held (session level) while migrations run, so that replicas starting together migrate once. */
export const MIGRATION_LOCK = 0x6d657368_6d696772n; // "meshmigr"

export interface PgOptions {
  /** Connections in the pool (default 10). */
  max?: number;
  /** PEM CA certificate(s) to verify the server with (TLS); the URL's sslmode otherwise decides. */
  ca?: string | undefined;
  /** search_path for every connection (tests: one schema per store). */
  schema?: string | undefined;
  /** How long to wait for a connection before failing (default 5 s): a lost database fails requests, never hangs them. */
  connectionTimeoutMs?: number;
  /** How long one query may take before the client gives up on it (default: no limit): a database cut off mid-query fails the request instead of hanging it. */
  queryTimeoutMs?: number;
}

export interface PgDb {
  pool: pg.Pool;
  /** Autocommit queries. */
  sql: Sql;
  /**
   * Autocommit reads (a single SELECT each) that share a round trip: those issued in the same turn
   * of the event loop (one request's concurrent reads, and other requests' that arrived with it)
   * go to the server together as one multi-statement query, one snapshot for all, each a statement
   * the connection prepared once. A read whose parameters are not plain strings, numbers, booleans
   * or null goes alone.
   */
  read: Sql;
  /**
   * Runs `fn` in one transaction on one connection: committed when it resolves, rolled back when
   * it throws. `lock` (default true) takes the audit lock first: required for any write that
   * appends an audit event.
   */
  tx<T>(fn: (c: Sql) => Promise<T>, options?: { lock?: boolean }): Promise<T>;
  close(): Promise<void>;
}

// BIGINT columns (epoch ms, seq, counts) as numbers: every value meshroot stores is below 2^53.
const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as "text")) as typeof pg.types.getTypeParser,
};

/** The connection settings for `url` (postgres://…; sslmode in the URL), with meshroot's type parsing. */
export function clientConfig(url: string, options: PgOptions = {}): pg.ClientConfig {
  return {
    connectionString: url,
    types,
    ...(options.ca ? { ssl: { ca: options.ca, rejectUnauthorized: true } } : {}),
    ...(options.schema ? { options: `-c search_path=${options.schema}` } : {}),
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
    ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
    // A peer that vanished without closing (a partition, a failed-over host) is noticed.
    keepAlive: true,
    application_name: "meshroot",
  };
}

/** Opens a connection pool on `url`. Connecting is lazy: this never throws for an unreachable server. */
export function openPg(url: string, options: PgOptions = {}): PgDb {
  const pool = new pg.Pool({ ...clientConfig(url, options), max: options.max ?? 10, idleTimeoutMillis: 30_000 });
  // An idle connection that the server drops (restart, failover) must not kill the process.
  pool.on("error", () => {});
  const sql: Sql = {
    query: (text, values) =>
      pool.query(text, values as unknown[]).catch((err: unknown) => {
        throw asProblem(err);
      }),
  };
  return {
    pool,
    sql,
    read: readBatcher(pool, sql),
    async tx(fn, { lock = true } = {}) {
      const client = await pool.connect().catch((err: unknown) => {
        throw asProblem(err);
      });
      let broken = false;
      // A connection the server drops between two statements (a shutdown, a failover) emits
      // "error" on the client outside any query: without a listener that would end the process.
      const onError = () => {
        broken = true;
      };
      client.on("error", onError);
      try {
        await client.query(lock ? `BEGIN; SELECT pg_advisory_xact_lock(${AUDIT_LOCK})` : "BEGIN");
        const result = await fn(client as Sql);
        await client.query("COMMIT");
        return result;
      } catch (err) {
        try {
          await client.query("ROLLBACK");
        } catch {
          broken = true;
        }
        throw asProblem(err);
      } finally {
        client.removeListener("error", onError);
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}

/** Most reads sent in one round trip. */
const READS_PER_TRIP = 32;

/** The parameters as quoted literals of unknown type (as untyped parameters are), or undefined when one is not a plain value. */
function literals(values: unknown[] | undefined): string[] | undefined {
  const out: string[] = [];
  for (const v of values ?? []) {
    if (v === null || v === undefined) out.push("NULL");
    else if (typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v))) out.push(pg.escapeLiteral(String(v)));
    else return undefined;
  }
  return out;
}

/**
 * Coalesces reads issued in the same turn of the event loop into one simple-protocol query: a
 * round trip, with a statement's parsing and planning, is most of what a read costs in both
 * processes. Each read is a statement prepared once per connection (PREPARE, the first time that
 * connection sends it) and run as EXECUTE with its parameters as literals, so the server neither
 * parses nor plans it again. A read whose parameters are not plain values goes as it is; when the
 * combined query fails, its connection is dropped (with whatever it had prepared) and each read is
 * sent again on its own, so that each caller gets its own answer or error.
 */
function readBatcher(pool: pg.Pool, sql: Sql): Sql {
  type Read = { text: string; values: unknown[] | undefined; lits: string[]; resolve: (r: pg.QueryResult) => void; reject: (e: unknown) => void };
  const names = new Map<string, string>();
  const nameOf = (text: string) => {
    let name = names.get(text);
    if (name === undefined) names.set(text, (name = `meshroot_read_${names.size + 1}`));
    return name;
  };
  const prepared = new WeakMap<pg.PoolClient, Set<string>>();
  let pending: Read[] = [];
  const alone = (r: Read) => sql.query(r.text, r.values).then(r.resolve, r.reject);
  const send = async (reads: Read[]) => {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      for (const r of reads) r.reject(asProblem(err));
      return;
    }
    let results: pg.QueryResult[];
    const onError = () => {};
    client.on("error", onError);
    try {
      let done = prepared.get(client);
      if (!done) prepared.set(client, (done = new Set()));
      const missing = [...new Set(reads.map((r) => r.text))].filter((t) => !done.has(t));
      if (missing.length > 0) {
        await client.query(missing.map((t) => `PREPARE ${nameOf(t)} AS ${t}`).join(";\n"));
        for (const t of missing) done.add(t);
      }
      const result = await client.query(reads.map((r) => `EXECUTE ${nameOf(r.text)}${r.lits.length ? `(${r.lits.join(", ")})` : ""}`).join(";\n"));
      results = reads.length === 1 ? [result] : (result as unknown as pg.QueryResult[]);
    } catch (err) {
      client.removeListener("error", onError);
      client.release(true);
      if (isUnavailable(err)) {
        for (const r of reads) r.reject(asProblem(err));
        return;
      }
      for (const r of reads) void alone(r);
      return;
    }
    client.removeListener("error", onError);
    client.release();
    reads.forEach((r, i) => r.resolve(results[i]!));
  };
  const flush = () => {
    const reads = pending;
    pending = [];
    for (let i = 0; i < reads.length; i += READS_PER_TRIP) void send(reads.slice(i, i + READS_PER_TRIP));
  };
  return {
    query<R extends pg.QueryResultRow>(text: string, values?: unknown[]) {
      const lits = literals(values);
      if (lits === undefined) return sql.query<R>(text, values);
      return new Promise<pg.QueryResult<R>>((resolve, reject) => {
        if (pending.length === 0) setImmediate(flush);
        pending.push({ text, values, lits, resolve: resolve as (r: pg.QueryResult) => void, reject });
      });
    },
  };
}

/** True when `err` is PostgreSQL's unique violation (23505). */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "23505";
}

/** The name of the constraint a unique violation hit, or "". */
export function violatedConstraint(err: unknown): string {
  return String((err as { constraint?: unknown } | null)?.constraint ?? "");
}


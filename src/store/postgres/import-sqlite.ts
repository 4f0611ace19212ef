import { verifyChainAsync, type ChainVerdict, type StoredAuditEvent } from "../../core/audit.js";
import type { Db } from "../sqlite/database.js";
import { migratePostgres } from "./migrate.js";
import type { PgDb, Sql } from "./pool.js";

/**
 * Every table of an installation, in the order foreign keys allow (intermediates' `supersedes`
 * is set once all of them are in). schema_migrations is not copied: each database has its own.
 */
const TABLES = ["meta", "trust_domains", "roots", "clusters", "intermediates", "api_tokens", "crls", "audit_events", "audit_checkpoints", "observations", "root_rotations"];
/** Tables with a serial id: their sequences continue after the copied rows. */
const SERIAL_TABLES = ["audit_checkpoints", "observations", "root_rotations"];
/** Rows per INSERT. */
const BATCH = 200;

export interface ImportReport {
  /** Rows copied per table. */
  rows: Record<string, number>;
  /** The audit chain as read back from the target before commit. */
  chain: ChainVerdict;
}

/**
 * Copies a migrated SQLite database into an empty PostgreSQL database (migrated here), in one
 * transaction: committed only when every table's row count matches and the audit chain read back
 * from the target verifies. Throws (nothing committed) when the target holds any row of an
 * installation, when a count differs, or when the chain does not verify.
 */
export async function importSqlite(source: Db, target: PgDb): Promise<ImportReport> {
  await migratePostgres(target);
  return target.tx(async (c) => {
    for (const table of TABLES) {
      const { rows } = await c.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM ${table}`);
      if (rows[0]!.n > 0) throw new Error(`the target database is not empty (${rows[0]!.n} rows in ${table}): migrate-data copies into an empty database only`);
    }
    const copied: Record<string, number> = {};
    for (const table of TABLES) copied[table] = await copyTable(source, c, table);
    await c.query(`UPDATE intermediates i SET supersedes = s.supersedes FROM (SELECT * FROM json_to_recordset($1::json) AS x(serial text, supersedes text)) s
      WHERE i.serial = s.serial`, [JSON.stringify(source.prepare("SELECT serial, supersedes FROM intermediates WHERE supersedes IS NOT NULL").all())]);
    for (const table of SERIAL_TABLES) {
      await c.query(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM ${table}`);
    }
    for (const table of TABLES) {
      const { rows } = await c.query<{ n: number }>(`SELECT COUNT(*)::int AS n FROM ${table}`);
      const expected = (source.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
      if (rows[0]!.n !== expected || copied[table] !== expected) throw new Error(`${table}: ${expected} rows in SQLite, ${rows[0]!.n} in PostgreSQL after the copy`);
    }
    const chain = await readChain(c);
    if (!chain.ok) throw new Error(`the audit chain copied to PostgreSQL does not verify (${JSON.stringify(chain)}); nothing was committed`);
    return { rows: copied, chain };
  });
}

/** The target's columns that are written (not generated), with their types. */
async function targetColumns(c: Sql, table: string): Promise<{ name: string; type: string }[]> {
  const { rows } = await c.query<{ name: string; type: string }>(
    `SELECT column_name AS name, data_type AS type FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER' ORDER BY ordinal_position`,
    [table],
  );
  return rows;
}

async function copyTable(source: Db, c: Sql, table: string): Promise<number> {
  const order = table === "meta" ? "key" : table === "audit_events" ? "seq" : "rowid";
  const select = source.prepare(`SELECT * FROM ${table} ORDER BY ${order}`);
  // Columns both have (a PostgreSQL column SQLite lacks keeps its default).
  const present = new Set(select.columns().map((col) => col.name));
  const columns = (await targetColumns(c, table)).filter((col) => present.has(col.name));
  const convert = columns.map(({ name, type }) => (row: Record<string, unknown>): unknown => {
    // Set afterwards, when every intermediate is in.
    if (table === "intermediates" && name === "supersedes") return null;
    const v = row[name];
    if (v === undefined || v === null) return null;
    if (type === "boolean") return v === 1 || v === true;
    return v;
  });
  let n = 0;
  let batch: Record<string, unknown>[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const values: unknown[] = [];
    const tuples = batch.map((row) => `(${convert.map((f) => (values.push(f(row)), `$${values.length}`)).join(", ")})`);
    await c.query(`INSERT INTO ${table} (${columns.map((col) => col.name).join(", ")}) VALUES ${tuples.join(", ")}`, values);
    n += batch.length;
    batch = [];
  };
  for (const row of select.iterate() as Iterable<Record<string, unknown>>) {
    batch.push(row);
    if (batch.length >= BATCH) await flush();
  }
  await flush();
  return n;
}

/** The target's chain, read in pages on the copying transaction's connection (nothing is committed yet). */
function readChain(c: Sql): Promise<ChainVerdict> {
  async function* events(): AsyncGenerator<StoredAuditEvent> {
    for (let after = Number.MIN_SAFE_INTEGER; ; ) {
      const { rows } = await c.query<StoredAuditEvent>("SELECT seq, event, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT 5000", [after]);
      yield* rows;
      if (rows.length < 5000) return;
      after = rows[rows.length - 1]!.seq;
    }
  }
  return verifyChainAsync(events());
}

import Database from "better-sqlite3";

export type Db = Database.Database;

/**
 * Opens (creating if needed) the SQLite database at `path` (":memory:" for tests) with the
 * settings of docs/architecture.md ("Storage"): WAL, synchronous=FULL, foreign keys on, a 5 s busy timeout.
 * `verbose` receives every statement run (tests read query plans with it).
 */
export function openDatabase(path: string, options: { verbose?: (sql: unknown) => void } = {}): Db {
  const db = new Database(path, options.verbose ? { verbose: options.verbose } : {});
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma("busy_timeout = 5000");
  return db;
}

/** True when `err` is SQLite's unique or primary-key constraint failure. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY";
}

/** Converts a nullable epoch-milliseconds column to a Date. */
export function toDate(ms: number | null): Date | null {
  return ms === null ? null : new Date(ms);
}

import Database from "better-sqlite3";
import { chmodSync, closeSync, existsSync, openSync, statSync } from "node:fs";

export type Db = Database.Database;

/**
 * Opens (creating if needed) the SQLite database at `path` (":memory:" for tests) with the
 * settings of docs/architecture.md ("Storage"): WAL, synchronous=FULL, foreign keys on, a 5 s busy timeout.
 * `verbose` receives every statement run (tests read query plans with it).
 */
export function openDatabase(path: string, options: { verbose?: (sql: unknown) => void } = {}): Db {
  const onDisk = path !== ":memory:" && path !== "" && !path.startsWith("file:");
  // The file holds sealed CA keys and the audit trail: owner-only. SQLite gives -wal and -shm the
  // main file's mode, so creating it 0600 first covers them; existing 0644 files are narrowed.
  if (onDisk) {
    closeSync(openSync(path, "a", 0o600));
    ownerOnly(path);
  }
  const db = new Database(path, options.verbose ? { verbose: options.verbose } : {});
  db.pragma("journal_mode = WAL");
  if (onDisk) for (const suffix of ["-wal", "-shm"]) ownerOnly(path + suffix);
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


/** Narrows an existing file to 0600 when group or others have any access to it. */
export function ownerOnly(path: string): void {
  if (existsSync(path) && (statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
}

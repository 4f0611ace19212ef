import { closeSync, existsSync, openSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../config.js";
import { DomainError } from "../errors.js";
import { DB_FILE } from "../runtime.js";
import { openDatabase, ownerOnly } from "../store/sqlite/database.js";
import { stderrNotice } from "./notice.js";

/**
 * `meshroot backup <file>`: a consistent online copy through SQLite's backup API; safe while
 * `serve` runs. The copy holds keys encrypted under the master key, which is not in it.
 */
export async function backupCommand(file: string): Promise<void> {
  const config = parseConfig();
  const source = join(config.dataDir, DB_FILE);
  if (!existsSync(source)) throw new DomainError("config_invalid", `no database at ${source}`);
  if (existsSync(file)) throw new DomainError("config_invalid", `${file} already exists; choose a new file`);
  // The copy holds the sealed CA keys and the audit trail: owner-only, like the database.
  process.umask(0o077);
  closeSync(openSync(file, "wx", 0o600));
  const db = openDatabase(source);
  try {
    const { totalPages } = await db.backup(file);
    ownerOnly(file);
    stderrNotice("info", `backed up ${source} to ${file} (${totalPages} pages); keep the master key separately`);
  } finally {
    db.close();
  }
}

import { closeSync, existsSync, openSync, statSync, unlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseConfig, unknownSettings } from "../config.js";
import { DomainError } from "../errors.js";
import { DB_FILE } from "../runtime.js";
import { openDatabase, ownerOnly } from "../store/sqlite/database.js";
import { stderrNotice } from "./notice.js";

/**
 * `meshroot backup <file>`: a consistent online copy through SQLite's backup API; safe while
 * `serve` runs. The copy holds keys encrypted under the master key, which is not in it. The
 * folder must exist (a mistyped or unmounted backup path is refused, not created); the file must
 * not. Throws DomainError `config_invalid` with one line saying what to fix.
 */
export async function backupCommand(file: string): Promise<void> {
  const config = parseConfig();
  for (const warning of unknownSettings()) stderrNotice("info", `warning: ${warning}`);
  if (config.database) {
    throw new DomainError(
      "config_invalid",
      "meshroot backup copies the SQLite database of a data directory; with MESHROOT_DATABASE_URL (PostgreSQL) back up with pg_dump, or continuous archiving (PITR), as the README's PostgreSQL section says",
    );
  }
  const source = join(config.dataDir, DB_FILE);
  if (!existsSync(source)) throw new DomainError("config_invalid", `no database at ${source} (MESHROOT_DATA_DIR)`);
  const target = resolve(file);
  const folder = dirname(target);
  if (!existsSync(folder)) throw new DomainError("config_invalid", `folder ${folder} does not exist: create it first (mkdir -p ${folder}); backup does not create folders`);
  if (!statSync(folder).isDirectory()) throw new DomainError("config_invalid", `${folder} is not a folder`);
  // The copy holds the sealed CA keys and the audit trail: owner-only, like the database.
  process.umask(0o077);
  try {
    closeSync(openSync(target, "wx", 0o600));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new DomainError("config_invalid", `${target} already exists; choose a new file`);
    throw new DomainError("config_invalid", `cannot create ${target}: ${code === "EACCES" || code === "EPERM" ? `no permission to write in ${folder}` : (err as Error).message}`);
  }
  const db = openDatabase(source);
  try {
    const { totalPages } = await db.backup(target);
    ownerOnly(target);
    stderrNotice("info", `backed up ${source} to ${target} (${totalPages} pages); keep the master key separately`);
  } catch (err) {
    // No half-written copy left behind to be mistaken for a backup.
    try {
      unlinkSync(target);
    } catch {
      /* not there */
    }
    throw err;
  } finally {
    db.close();
  }
}

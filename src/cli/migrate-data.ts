import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig, unknownSettings } from "../config.js";
import { DomainError } from "../errors.js";
import { DB_FILE, lockDataDir } from "../runtime.js";
import { openDatabase } from "../store/sqlite/database.js";
import { migrate } from "../store/sqlite/migrate.js";
import { importSqlite } from "../store/postgres/import-sqlite.js";
import { describeUrl } from "../store/postgres/open.js";
import { openPg } from "../store/postgres/pool.js";
import { stderrNotice } from "./notice.js";

/**
 * `meshroot migrate-data --to postgres://…`: copies the data directory's SQLite database, every
 * row, into an empty PostgreSQL database, in one transaction committed only when the row counts
 * match and the audit chain verifies on the target. Takes the data directory's serve lock (no
 * serve may write meanwhile). The master key stays the same: the copy keeps the check record.
 * Throws DomainError `config_invalid` for what the operator must fix.
 */
export async function migrateDataCommand(opts: { to: string; caFile?: string }): Promise<void> {
  const config = parseConfig();
  for (const warning of unknownSettings()) stderrNotice("info", `warning: ${warning}`);
  if (!/^postgres(ql)?:\/\/./.test(opts.to)) throw new DomainError("config_invalid", "--to must be a postgres:// URL (postgres://user:password@host:5432/db)");
  const source = join(config.dataDir, DB_FILE);
  if (!existsSync(source)) throw new DomainError("config_invalid", `no database at ${source} (MESHROOT_DATA_DIR): nothing to copy`);
  const release = lockDataDir(config.dataDir, stderrNotice);
  const db = openDatabase(source);
  const caFile = opts.caFile ?? config.database?.caFile;
  const target = openPg(opts.to, { max: 2, ca: caFile ? readFileSync(caFile, "utf8") : undefined });
  try {
    // The source at the newest schema, as the target's migrations have it.
    migrate(db);
    const report = await importSqlite(db, target).catch((err: unknown) => {
      throw new DomainError("config_invalid", `nothing was copied to ${describeUrl(opts.to)}: ${(err as Error).message}`);
    });
    const rows = Object.entries(report.rows).filter(([, n]) => n > 0).map(([t, n]) => `${n} ${t}`).join(", ");
    stderrNotice(
      "info",
      `copied ${source} to ${describeUrl(opts.to)}: ${rows || "no rows"}; the audit chain verifies there (${report.chain.events} events, head ${report.chain.lastSeq}:${report.chain.lastHash}). ` +
        "Start the replicas with MESHROOT_DATABASE_URL set to it and the same master key.",
    );
  } finally {
    db.close();
    await target.close();
    release();
  }
}

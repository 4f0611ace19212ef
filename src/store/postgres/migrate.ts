import { join } from "node:path";
import { defaultMigrationsDir, loadMigrations, type Migration } from "../sqlite/migrate.js";
import { MIGRATION_LOCK, type PgDb } from "./pool.js";

/** The `migrations/postgres/` folder of the installed package. */
export function postgresMigrationsDir(): string {
  return join(defaultMigrationsDir(), "postgres");
}

/** The PostgreSQL migrations, in version order (same file rules as SQLite's). */
export function loadPostgresMigrations(dir: string = postgresMigrationsDir()): Migration[] {
  return loadMigrations(dir);
}

/**
 * Applies pending migrations, each in its own transaction, recording version and checksum; throws
 * when an applied migration's file changed or is missing (forward-only, as on SQLite). Replicas
 * that start together take turns (a session advisory lock), so each migration runs once.
 * Returns the versions applied now.
 */
export async function migratePostgres(db: PgDb, migrations: Migration[] = loadPostgresMigrations(), now: () => number = Date.now): Promise<number[]> {
  const client = await db.pool.connect();
  // A checked-out client has no pool listener: a dropped connection must fail the migration, not the process.
  const onError = () => {};
  client.on("error", onError);
  try {
    await client.query(`SELECT pg_advisory_lock(${MIGRATION_LOCK})`);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
      const { rows } = await client.query<{ version: number; name: string; checksum: string }>("SELECT version, name, checksum FROM schema_migrations");
      const applied = new Map(rows.map((r) => [r.version, r]));
      for (const [version, row] of applied) {
        const file = migrations.find((m) => m.version === version);
        if (!file) throw new Error(`migration postgres/${version} (${row.name}) is applied but its file is missing: this meshroot is older than the database`);
        if (file.checksum !== row.checksum) {
          throw new Error(`migration postgres/${version}_${row.name}.sql changed after it was applied (checksum mismatch); migrations are forward-only`);
        }
      }
      const done: number[] = [];
      for (const m of migrations) {
        if (applied.has(m.version)) continue;
        await client.query("BEGIN");
        try {
          await client.query(m.sql);
          await client.query("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)", [m.version, m.name, m.checksum, now()]);
          await client.query("COMMIT");
        } catch (err) {
          await client.query("ROLLBACK");
          throw err;
        }
        done.push(m.version);
      }
      return done;
    } finally {
      await client.query(`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`);
    }
  } finally {
    client.removeListener("error", onError);
    client.release();
  }
}

/** True when every known migration is applied (readiness). */
export async function postgresMigrationsCurrent(db: PgDb, migrations: Migration[]): Promise<boolean> {
  const { rows } = await db.sql.query<{ n: number }>("SELECT COUNT(*)::int AS n FROM schema_migrations");
  return rows[0]!.n === migrations.length;
}

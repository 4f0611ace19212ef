import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../../package-root.js";
import { canonicalEvent } from "../../core/audit.js";
import type { Db } from "./database.js";

const FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

/** The `migrations/` folder of the installed package. */
export function defaultMigrationsDir(): string {
  return join(packageRoot(), "migrations");
}

/** Reads `NNNN_name.sql` files in version order; throws on a duplicate version. */
export function loadMigrations(dir: string = defaultMigrationsDir()): Migration[] {
  const migrations = readdirSync(dir)
    .map((f) => ({ f, m: FILE.exec(f) }))
    .filter((x): x is { f: string; m: RegExpExecArray } => x.m !== null)
    .map(({ f, m }) => {
      const sql = readFileSync(join(dir, f), "utf8");
      return { version: Number(m[1]), name: m[2]!, sql, checksum: createHash("sha256").update(sql).digest("hex") };
    })
    .sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (i > 0 && migrations[i - 1]!.version === m.version) throw new Error(`two migrations have version ${m.version}`);
  });
  return migrations;
}

/**
 * Applies pending migrations, each in its own transaction, recording version and checksum.
 * Throws when an applied migration's file changed or is missing (forward-only history).
 * Returns the versions applied now.
 */
export function migrate(db: Db, migrations: Migration[] = loadMigrations(), now: () => number = Date.now): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const applied = new Map(
    (db.prepare("SELECT version, name, checksum FROM schema_migrations").all() as { version: number; name: string; checksum: string }[]).map(
      (r) => [r.version, r],
    ),
  );
  for (const [version, row] of applied) {
    const file = migrations.find((m) => m.version === version);
    if (!file) throw new Error(`migration ${version} (${row.name}) is applied but its file is missing: this meshroot is older than the database`);
    if (file.checksum !== row.checksum) {
      throw new Error(`migration ${version}_${row.name}.sql changed after it was applied (checksum mismatch); migrations are forward-only`);
    }
  }
  registerMigrationFunctions(db);
  const record = db.prepare("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (@version, @name, @checksum, @at)");
  const done: number[] = [];
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run({ version: m.version, name: m.name, checksum: m.checksum, at: now() });
    })();
    done.push(m.version);
  }
  return done;
}

/**
 * SQL functions that migrations may call: meshroot_canonical_event() is the application's own
 * canonical event text (0005 rewrites the audit trail into it, keeping every hash valid).
 */
function registerMigrationFunctions(db: Db): void {
  db.function("meshroot_canonical_event", { deterministic: true, varargs: true }, (...c: unknown[]) =>
    canonicalEvent({
      seq: c[0] as number,
      at: c[1] as number,
      actorType: c[2] as string,
      actorId: c[3] as string,
      actorName: c[4] as string,
      action: c[5] as string,
      targetType: c[6] as string,
      targetId: c[7] as string,
      cluster: c[8] as string | null,
      trustDomain: c[9] as string | null,
      outcome: c[10] as string,
      requestId: c[11] as string | null,
      sourceIp: c[12] as string | null,
      detailsJson: c[13] as string,
      prevHash: c[14] as string,
    }),
  );
}

/** True when every known migration is applied (readiness). */
export function migrationsCurrent(db: Db, migrations: Migration[]): boolean {
  const row = db.prepare("SELECT COUNT(*) AS n FROM schema_migrations").get() as { n: number };
  return row.n === migrations.length;
}

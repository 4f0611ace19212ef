import type { Store } from "../../core/ports.js";
import { listenForChanges } from "./change-listener.js";
import { runAsLeader, type LeaderLog } from "./leader.js";
import { loadPostgresMigrations, migratePostgres, postgresMigrationsCurrent } from "./migrate.js";
import { postgresMetaStore } from "./meta-store.js";
import { openPg, type PgOptions } from "./pool.js";
import { postgresStore } from "./postgres-store.js";

/** How often readiness pings the database. */
const PING_MS = 1000;

/** The database as `serve` needs it on PostgreSQL: the store, the master-key check's meta table, health, change events and the leader lock. */
export interface OpenedPostgres {
  store: Store;
  meta: ReturnType<typeof postgresMetaStore>;
  /** The database, for messages: host and name, never the password. */
  where: string;
  /** The last ping's answer: reachable, and every migration applied. */
  health(): { database: boolean; migrations: boolean };
  /** Calls `changed` with the trust domain of every audited write any replica commits. */
  listen(changed: (trustDomain: string) => void): () => Promise<void>;
  runAsLeader(start: () => () => Promise<void>, log: LeaderLog): () => Promise<void>;
  close(): Promise<void>;
}

/** `postgres://host:port/db` of a URL, without user or password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `postgres://${u.host}${u.pathname}`;
  } catch {
    return "PostgreSQL (MESHROOT_DATABASE_URL)";
  }
}

/**
 * Opens the pool on `url` and applies pending migrations (throws when the database cannot be
 * reached or a migration fails), then pings every second for readiness.
 */
export async function openPostgres(url: string, options: PgOptions, now: () => number = Date.now): Promise<OpenedPostgres> {
  const migrations = loadPostgresMigrations();
  // Migrations on a connection of their own, without the query time limit (one may take minutes on a large database).
  const migrator = openPg(url, { ...options, max: 1, queryTimeoutMs: undefined });
  try {
    await migratePostgres(migrator, migrations, now);
  } catch (err) {
    throw new Error(`cannot open ${describeUrl(url)}: ${(err as Error).message}`, { cause: err });
  } finally {
    await migrator.close();
  }
  const db = openPg(url, options);
  let health = { database: true, migrations: true };
  let pinging = false;
  const ping = async () => {
    if (pinging) return;
    pinging = true;
    try {
      health = { database: true, migrations: await postgresMigrationsCurrent(db, migrations) };
    } catch {
      health = { database: false, migrations: false };
    } finally {
      pinging = false;
    }
  };
  const timer = setInterval(() => void ping(), PING_MS);
  timer.unref();
  return {
    store: postgresStore(db),
    meta: postgresMetaStore(db),
    where: describeUrl(url),
    health: () => health,
    listen: (changed) => listenForChanges(url, options, changed),
    runAsLeader: (start, log) => runAsLeader(url, options, start, log),
    async close() {
      clearInterval(timer);
      await db.close();
    },
  };
}

import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { systemContext } from "./core/audit.js";
import { createCore, type Core } from "./core/core.js";
import { combineObservers, type KeyVault } from "./core/ports.js";
import { decodeMasterKey, envelopeVault } from "./keys/envelope-vault.js";
import { sealedRootKeys } from "./keys/sealed-root-keys.js";
import { openConfiguredHsm, rootKeysByScheme } from "./keys/pkcs11-dispatch.js";
import { systemClock, type Clock } from "./clock.js";
import type { Config } from "./config.js";
import { DomainError, isDomainError } from "./errors.js";
import { createMetrics, type Metrics } from "./http/metrics.js";
import { publicCache, type PublicCache } from "./http/public-cache.js";
import type { Store } from "./core/ports.js";
import { openDatabase, type Db } from "./store/sqlite/database.js";
import { sqliteMetaStore } from "./store/sqlite/meta-store.js";
import { loadMigrations, migrate, migrationsCurrent } from "./store/sqlite/migrate.js";
import { sqliteStore } from "./store/sqlite/sqlite-store.js";
import type { IssuanceCommitter } from "./store/sqlite/group-commit.js";
import { issuanceWriter } from "./store/sqlite/issuance-writer.js";

export const DB_FILE = "meshroot.db";
export const DEV_MASTER_KEY_FILE = "master.key";
export const ADMIN_TOKEN_FILE = "admin.token";
/** Held by the one `meshroot serve` of a data directory: its pid on the first line. */
export const LOCK_FILE = "serve.lock";
const KEY_CHECK = "master_key_check";
const KEY_CHECK_PLAINTEXT = "meshroot master key check v1";

export interface Runtime {
  /** Which database runs: SQLite in the data directory, or PostgreSQL (MESHROOT_DATABASE_URL) shared by replicas. */
  backend: "sqlite" | "postgres";
  /** The SQLite database itself (the bench seeds through it); undefined on PostgreSQL. */
  sqlite: Db | undefined;
  /** Where the data is, for messages: the data directory, or the PostgreSQL host and database (never a password). */
  location: string;
  core: Core;
  metrics: Metrics;
  /** The public routes' cache, invalidated by the core's change events. */
  publicCache: PublicCache;
  vault: KeyVault;
  clock: Clock;
  /** Readiness: database reachable, migrations applied, master key loaded. */
  readiness(): { ready: boolean; checks: Record<string, boolean> };
  /**
   * Runs the background jobs that `start` starts where they belong: in this process on SQLite
   * (one serve per data directory); on PostgreSQL only on the replica that holds the leader lock,
   * taken over by another when it goes. Returns a function that stops them.
   */
  runBackgroundJobs(start: () => () => Promise<void>, log: { info(msg: string): void; error(obj: unknown, msg: string): void }): () => Promise<void>;
  close(): void;
}

export interface Notice {
  (level: "info" | "warn", message: string): void;
}

x509.cryptoProvider.set(globalThis.crypto);

/**
 * Opens meshroot's data directory: creates it (0700), loads or (development, fresh directory)
 * generates the master key, opens and migrates the database, and checks that the master key is
 * the one the database was sealed under. Throws DomainError `config_invalid` or
 * `master_key_mismatch` with a message for the operator.
 */
export async function openRuntime(config: Readonly<Config>, notice: Notice, clock: Clock = systemClock): Promise<Runtime> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  if (config.database) return openPostgresRuntime(config, config.database, notice, clock);
  const dbPath = join(config.dataDir, DB_FILE);
  const fresh = !existsSync(dbPath);
  // First: a wrong PIN or a missing token refuses to start with nothing written (no master key, no database).
  const hsm = openConfiguredHsm(config.pkcs11);
  const vault = hsm?.masterKeyInToken ? await hsm.keyVault() : envelopeVault(loadMasterKey(config, fresh, notice));
  const db = openDatabase(dbPath);
  let writer: IssuanceCommitter | undefined;
  try {
    const migrations = loadMigrations();
    migrate(db, migrations, () => clock.now().getTime());
    await checkMasterKey(sqliteMeta(db), vault, dbPath);
    // Issuances commit on a writer thread (its own connection), off the event loop.
    writer = issuanceWriter(dbPath);
    const store = sqliteStore(db, { writer });
    const { core, metrics, cache } = wireCore(config, store, vault, clock, hsm);
    return {
      backend: "sqlite",
      sqlite: db,
      location: config.dataDir,
      core,
      metrics,
      publicCache: cache,
      vault,
      clock,
      readiness() {
        let database = false;
        let migrated = false;
        try {
          database = db.prepare("SELECT 1 AS ok").get() !== undefined;
          migrated = migrationsCurrent(db, migrations);
        } catch {
          /* reported as not ready */
        }
        const checks = { database, migrations: migrated, masterKey: true };
        return { ready: database && migrated, checks };
      },
      runBackgroundJobs: (start) => start(),
      close: () => {
        void writer?.close();
        db.close();
        hsm?.close();
      },
    };
  } catch (err) {
    void writer?.close();
    db.close();
    hsm?.close();
    throw err;
  }
}

/**
 * The runtime on PostgreSQL: migrates (once across replicas), checks the master key, and keeps
 * readiness from a ping every second (so /readyz answers 503 while the database is away and
 * recovers by itself). Another replica's writes reach this one's public cache by LISTEN/NOTIFY.
 */
async function openPostgresRuntime(
  config: Readonly<Config>,
  database: NonNullable<Config["database"]>,
  notice: Notice,
  clock: Clock,
): Promise<Runtime> {
  const ca = database.caFile ? readFileSync(database.caFile, "utf8") : undefined;
  // A query gives up after 20 s: within the 30 s a request may take, a database cut off mid-query is a failed request, not a hung one.
  // Loaded only here: a SQLite installation never evaluates the PostgreSQL client (start-up, memory).
  const { openPostgres } = await import("./store/postgres/open.js");
  const pg = await openPostgres(database.url, { max: database.poolSize, ca, queryTimeoutMs: 20_000 }, () => clock.now().getTime());
  let hsm: ReturnType<typeof openConfiguredHsm>;
  try {
    // A fresh database takes the development key (generated once, in this data directory); one with a check record needs its own.
    const fresh = (await pg.meta.get(KEY_CHECK)) === undefined;
    hsm = openConfiguredHsm(config.pkcs11);
    const vault = hsm?.masterKeyInToken ? await hsm.keyVault() : envelopeVault(loadMasterKey(config, fresh, notice));
    await checkMasterKey(pg.meta, vault, pg.where);
    const { core, metrics, cache } = wireCore(config, pg.store, vault, clock, hsm);
    const unlisten = pg.listen((trustDomain) => {
      cache.observer.bundleChanged(trustDomain);
      cache.observer.crlChanged(trustDomain);
    });
    return {
      backend: "postgres",
      sqlite: undefined,
      location: `${pg.where} (files in ${config.dataDir})`,
      core,
      metrics,
      publicCache: cache,
      vault,
      clock,
      readiness() {
        const { database: reachable, migrations } = pg.health();
        return { ready: reachable && migrations, checks: { database: reachable, migrations, masterKey: true } };
      },
      runBackgroundJobs: (start, log) => pg.runAsLeader(start, log),
      close() {
        hsm?.close();
        void unlisten().then(() => pg.close());
      },
    };
  } catch (err) {
    hsm?.close();
    await pg.close();
    throw err;
  }
}

/** The core over `store`, with the metrics and the public cache listening to it. */
function wireCore(config: Readonly<Config>, store: Store, vault: KeyVault, clock: Clock, hsm: ReturnType<typeof openConfiguredHsm>) {
  const metrics = createMetrics();
  metrics.watchFleet(store, clock, config.workloadCertTtlMs);
  const cache = publicCache(clock);
  const core = createCore({
    store,
    observer: combineObservers(metrics.observer, cache.observer),
    rootKeys: rootKeysByScheme(sealedRootKeys(vault), hsm?.rootKeys),
    vault,
    crypto: globalThis.crypto,
    clock,
    publicUrl: config.publicUrl,
    crlValidityMs: config.crlValidityMs,
    observationMaxAgeMs: config.observationMaxAgeMs,
    workloadCertTtlMs: config.workloadCertTtlMs,
    prepareLeadMs: config.prepareLeadMs,
    maxIssuancesPerClusterPerDay: config.maxIssuancesPerClusterPerDay,
  });
  metrics.watchTrust(core.fleet, clock);
  return { core, metrics, cache };
}

function loadMasterKey(config: Readonly<Config>, freshDatabase: boolean, notice: Notice): Uint8Array {
  if (config.masterKey) return decodeMasterKey(config.masterKey, "MESHROOT_MASTER_KEY");
  if (config.masterKeyFile) {
    let raw: Buffer;
    try {
      raw = readFileSync(config.masterKeyFile);
    } catch (err) {
      throw new DomainError("config_invalid", `MESHROOT_MASTER_KEY_FILE ${config.masterKeyFile} cannot be read: ${(err as Error).message}`);
    }
    if (config.env === "production") refuseReadableKeyFile(config.masterKeyFile);
    return decodeMasterKey(raw, `MESHROOT_MASTER_KEY_FILE ${config.masterKeyFile}`);
  }
  // Development only (config refuses production without an explicit key).
  const devFile = join(config.dataDir, DEV_MASTER_KEY_FILE);
  if (existsSync(devFile)) return decodeMasterKey(readFileSync(devFile), devFile);
  if (!freshDatabase) {
    throw new DomainError(
      "config_invalid",
      `${join(config.dataDir, DB_FILE)} exists but no master key is configured and ${devFile} is missing: set MESHROOT_MASTER_KEY_FILE to the key this database was created with`,
    );
  }
  const key = randomBytes(32);
  writeFileSync(devFile, `${key.toString("base64")}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(devFile, 0o600);
  notice(
    "warn",
    `DEVELOPMENT MODE: generated a master key at ${devFile} (mode 0600). Anyone who reads it can decrypt every CA key in ${config.dataDir}. In production set MESHROOT_ENV=production and MESHROOT_MASTER_KEY_FILE.`,
  );
  return key;
}

/** Production: a master-key file that group or others can read is refused (it decrypts every CA key). */
function refuseReadableKeyFile(file: string): void {
  const mode = statSync(file).mode & 0o777;
  if ((mode & 0o044) !== 0) {
    throw new DomainError(
      "config_invalid",
      `MESHROOT_MASTER_KEY_FILE ${file} is readable by group or others (mode 0${mode.toString(8)}): run chmod 600 ${file} (in Kubernetes, mount the Secret with defaultMode: 0400)`,
    );
  }
}

/** The master-key check record's storage: SQLite's meta table, or PostgreSQL's. */
interface KeyCheckMeta {
  get(key: string): Promise<string | undefined> | string | undefined;
  dataRows(): Promise<string[]> | string[];
  /** False when another replica stored the key first. */
  insertIfAbsent(key: string, value: string): Promise<boolean> | boolean;
}

function sqliteMeta(db: Db): KeyCheckMeta {
  const meta = sqliteMetaStore(db);
  return { get: (key) => meta.get(key), dataRows: () => meta.dataRows(), insertIfAbsent: (key, value) => (meta.insert(key, value), true) };
}

async function checkMasterKey(meta: KeyCheckMeta, vault: KeyVault, dbPath: string): Promise<void> {
  let stored = await meta.get(KEY_CHECK);
  if (stored === undefined) {
    // Only a database that holds nothing may take a key unchecked: anywhere else a missing check
    // row would let a wrong key start and then record itself as the right one.
    const rows = await meta.dataRows();
    // A replica starting on the same new database stores its record before any data: read it again before refusing.
    if (rows.length > 0) stored = await meta.get(KEY_CHECK);
    if (stored === undefined && rows.length > 0) {
      throw new DomainError(
        "master_key_mismatch",
        `${dbPath} holds data (${rows.join(", ")}) but its master-key check record (meta '${KEY_CHECK}') is missing, so the configured master key (id ${vault.keyId}) cannot be checked: refusing to start. Restore the database from a backup taken with its check record.`,
      );
    }
  }
  if (stored === undefined) {
    const sealed = await vault.seal(Buffer.from(KEY_CHECK_PLAINTEXT), KEY_CHECK);
    if (await meta.insertIfAbsent(KEY_CHECK, Buffer.from(sealed).toString("base64"))) return;
    // Another replica started on the same new database first: its key must be this one.
    stored = (await meta.get(KEY_CHECK))!;
  }
  try {
    await vault.open(Buffer.from(stored, "base64"), KEY_CHECK);
  } catch (err) {
    if (isDomainError(err)) {
      throw new DomainError(
        "master_key_mismatch",
        `the configured master key (id ${vault.keyId}) is not the one this database was created with: ${err.message}`,
      );
    }
    throw err;
  }
}

/**
 * Creates the bootstrap admin token on first start: MESHROOT_ADMIN_TOKEN if set, else random.
 * Returns the secret when one was created now, undefined when tokens already exist.
 */
export async function bootstrapAdminToken(runtime: Runtime, config: Readonly<Config>): Promise<string | undefined> {
  if (await runtime.core.tokens.bootstrapped()) return undefined;
  try {
    const { secret } = await runtime.core.tokens.create({ name: "bootstrap-admin", role: "admin", secret: config.adminToken }, systemContext("bootstrap"));
    return secret;
  } catch (err) {
    // Replicas starting together on one new PostgreSQL database: another one bootstrapped first.
    if (await runtime.core.tokens.bootstrapped()) return undefined;
    throw err;
  }
}

/** Writes the bootstrap admin token to `<data>/admin.token` (0600), once. Returns the path. */
export function writeAdminTokenFile(config: Readonly<Config>, secret: string): string {
  const path = join(config.dataDir, ADMIN_TOKEN_FILE);
  writeFileSync(path, `${secret}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

/**
 * Takes the data directory's serve lock: `<data>/serve.lock`, created exclusively, holding this
 * process's pid. A lock whose pid is no longer running (the server was killed) is taken over.
 * The lock is removed when this process exits; returns a function that removes it sooner.
 * Throws DomainError `config_invalid` naming the live process that holds it.
 */
export function lockDataDir(dataDir: string, notice: Notice): () => void {
  const path = join(dataDir, LOCK_FILE);
  const content = `${process.pid}\n${hostname()}\n${new Date().toISOString()}\n`;
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(path, content, { flag: "wx", mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 5) throw err;
    }
    const held = readLock(path);
    if (held === undefined) continue; // removed meanwhile
    // A lock still being written (no pid yet) is given a moment before it counts as stale.
    if (held.pid === undefined && attempt < 3) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      continue;
    }
    // Our own pid: a container restarted with the same pid after a kill. Another host's pid
    // cannot be checked (a pod rescheduled with the volume): its lock counts as stale.
    const sameHost = held.host === undefined || held.host === hostname();
    if (held.pid !== undefined && held.pid !== process.pid && sameHost && processRunning(held.pid)) {
      throw new DomainError(
        "config_invalid",
        `data directory ${dataDir} is in use by another meshroot serve (pid ${held.pid}${held.host ? ` on ${held.host}` : ""}, lock ${path}): stop it first, or set MESHROOT_DATA_DIR to another directory`,
      );
    }
    // Remove only the stale lock read above, not one another starter has just taken over.
    if (readLock(path)?.text === held.text) {
      try {
        unlinkSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
      notice("info", `took over the stale lock ${path} of pid ${held.pid ?? "unknown"}${sameHost ? ", which is no longer running" : ` on ${held.host}`}`);
    }
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.removeListener("exit", release);
    try {
      if (readFileSync(path, "utf8") === content) unlinkSync(path);
    } catch {
      /* already gone */
    }
  };
  process.on("exit", release);
  return release;
}

function readLock(path: string): { text: string; pid: number | undefined; host: string | undefined } | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const [pid, host] = text.split("\n");
  return { text, pid: /^\d+$/.test(pid ?? "") ? Number(pid) : undefined, host: host || undefined };
}

function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

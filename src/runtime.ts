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
import { systemClock, type Clock } from "./clock.js";
import type { Config } from "./config.js";
import { DomainError, isDomainError } from "./errors.js";
import { createMetrics, type Metrics } from "./http/metrics.js";
import { publicCache, type PublicCache } from "./http/public-cache.js";
import { openDatabase, type Db } from "./store/sqlite/database.js";
import { sqliteMetaStore } from "./store/sqlite/meta-store.js";
import { loadMigrations, migrate, migrationsCurrent } from "./store/sqlite/migrate.js";
import { sqliteStore } from "./store/sqlite/sqlite-store.js";

export const DB_FILE = "meshroot.db";
export const DEV_MASTER_KEY_FILE = "master.key";
export const ADMIN_TOKEN_FILE = "admin.token";
/** Held by the one `meshroot serve` of a data directory: its pid on the first line. */
export const LOCK_FILE = "serve.lock";
const KEY_CHECK = "master_key_check";
const KEY_CHECK_PLAINTEXT = "meshroot master key check v1";

export interface Runtime {
  db: Db;
  core: Core;
  metrics: Metrics;
  /** The public routes' cache, invalidated by the core's change events. */
  publicCache: PublicCache;
  vault: KeyVault;
  clock: Clock;
  /** Readiness: database reachable, migrations applied, master key loaded. */
  readiness(): { ready: boolean; checks: Record<string, boolean> };
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
  const dbPath = join(config.dataDir, DB_FILE);
  const fresh = !existsSync(dbPath);
  const vault = envelopeVault(loadMasterKey(config, fresh, notice));
  const db = openDatabase(dbPath);
  try {
    const migrations = loadMigrations();
    migrate(db, migrations, () => clock.now().getTime());
    await checkMasterKey(db, vault, dbPath);
    const store = sqliteStore(db);
    const metrics = createMetrics();
    metrics.watchFleet(store, clock, config.workloadCertTtlMs);
    const cache = publicCache(clock);
    const core = createCore({
      store,
      observer: combineObservers(metrics.observer, cache.observer),
      rootKeys: sealedRootKeys(vault, globalThis.crypto),
      vault,
      crypto: globalThis.crypto,
      clock,
      publicUrl: config.publicUrl,
      crlValidityMs: config.crlValidityMs,
      observationMaxAgeMs: config.observationMaxAgeMs,
      workloadCertTtlMs: config.workloadCertTtlMs,
      maxIssuancesPerClusterPerDay: config.maxIssuancesPerClusterPerDay,
    });
    metrics.watchTrust(core.fleet, clock);
    return {
      db,
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
      close: () => db.close(),
    };
  } catch (err) {
    db.close();
    throw err;
  }
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

async function checkMasterKey(db: Db, vault: KeyVault, dbPath: string): Promise<void> {
  const meta = sqliteMetaStore(db);
  const stored = meta.get(KEY_CHECK);
  if (stored === undefined) {
    // Only a database that holds nothing may take a key unchecked: anywhere else a missing check
    // row would let a wrong key start and then record itself as the right one.
    const rows = meta.dataRows();
    if (rows.length > 0) {
      throw new DomainError(
        "master_key_mismatch",
        `${dbPath} holds data (${rows.join(", ")}) but its master-key check record (meta '${KEY_CHECK}') is missing, so the configured master key (id ${vault.keyId}) cannot be checked: refusing to start. Restore the database from a backup taken with its check record.`,
      );
    }
    const sealed = await vault.seal(Buffer.from(KEY_CHECK_PLAINTEXT), KEY_CHECK);
    meta.insert(KEY_CHECK, Buffer.from(sealed).toString("base64"));
    return;
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
  const { secret } = await runtime.core.tokens.create({ name: "bootstrap-admin", role: "admin", secret: config.adminToken }, systemContext("bootstrap"));
  return secret;
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

import * as x509 from "@peculiar/x509";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemContext } from "../src/core/audit.js";
import { createCore, type Core } from "../src/core/core.js";
import { keyGenParams, signingAlgorithm, type KeyAlgorithm } from "../src/x509/key-algorithms.js";
import { envelopeVault } from "../src/keys/envelope-vault.js";
import { sealedRootKeys } from "../src/keys/sealed-root-keys.js";
import { combineObservers, type Observer, type Store } from "../src/core/ports.js";
import type { Clock } from "../src/clock.js";
import { publicCache } from "../src/http/public-cache.js";
import { sqliteStore } from "../src/store/sqlite/sqlite-store.js";
import { fixedClock } from "../src/clock.js";
import { openDatabase, type Db } from "../src/store/sqlite/database.js";
import { migrate } from "../src/store/sqlite/migrate.js";
import { buildApp, type App } from "../src/http/app.js";
import { createMetrics } from "../src/http/metrics.js";

export const crypto = globalThis.crypto;
export const T0 = "2026-01-15T12:00:00.000Z";
export const MASTER_KEY = new Uint8Array(32).fill(7);

/** A fresh migrated in-memory database with the core wired over it, at a fixed time. */
export function testCore(at: string = T0) {
  const db = openDatabase(":memory:");
  migrate(db);
  const clock = fixedClock(at);
  const store = sqliteStore(db);
  const metrics = createMetrics();
  metrics.watchFleet(store, clock);
  const cache = publicCache(clock);
  const { core, vault } = coreOver(store, clock, combineObservers(metrics.observer, cache.observer));
  metrics.watchTrust(core.fleet, clock);
  return { db, clock, vault, core, metrics, publicCache: cache };
}

/** The core over `store`, with the test master key for the vault and sealed root keys. */
export function coreOver(store: Store, clock: Clock, observer?: Observer, options: { publicUrl?: string } = {}) {
  const vault = envelopeVault(MASTER_KEY);
  return { vault, core: createCore({ store, rootKeys: sealedRootKeys(vault), vault, crypto, clock, observer, ...options }) };
}

export interface TestApp {
  app: App;
  core: Core;
  db: Db;
  clock: ReturnType<typeof fixedClock>;
  admin: string;
  auth: (token?: string) => { authorization: string };
}

/**
 * A built (not listening) app over a fresh database, with a bootstrap admin token. The
 * failed-authentication limit is off unless given (tests make many refused calls from one address).
 */
export async function testApp(at: string = T0, authFailures = { limit: 1_000_000, windowMs: 60_000 }): Promise<TestApp> {
  const { db, clock, core, metrics, publicCache } = testCore(at);
  const app = await buildApp({ core, clock, metrics, publicCache, authFailures, readiness: () => ({ ready: true, checks: { database: true } }) });
  const { secret } = await core.tokens.create({ name: "admin", role: "admin" }, TEST_CTX);
  return { app, core, db, clock, admin: secret, auth: (token = secret) => ({ authorization: `Bearer ${token}` }) };
}

export async function generateKeys(alg: KeyAlgorithm): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey(keyGenParams(alg), true, ["sign", "verify"])) as CryptoKeyPair;
}

/** A PKCS#10 CSR PEM for a fresh key of `alg`, with a subject and extensions meshroot must ignore. */
export async function makeCsr(alg: KeyAlgorithm = "ecdsa-p256"): Promise<{ pem: string; keys: CryptoKeyPair }> {
  const keys = await generateKeys(alg);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: "CN=attacker chosen, O=Evil",
    keys,
    signingAlgorithm: signingAlgorithm(alg),
    extensions: [new x509.BasicConstraintsExtension(true, 5, true), new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth])],
  });
  return { pem: csr.toString("pem"), keys };
}

/** Parses a PEM certificate. */
export function cert(pem: string): x509.X509Certificate {
  return new x509.X509Certificate(pem);
}

/** A temp directory that lives until the OS cleans /tmp. */
export function tempDir(prefix = "meshroot-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Runs openssl with args; returns stdout, throws with stderr on a non-zero exit. */
export function openssl(args: string[], input?: string): string {
  return execFileSync("openssl", args, { input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
}

/** Writes files into a new temp dir and returns its path. */
export function writeFiles(files: Record<string, string>): string {
  const dir = tempDir();
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

/** Row counts of every data table: equal before and after a refused request means nothing was written. */
export function rowCounts(db: Db): Record<string, number> {
  const tables = ["trust_domains", "roots", "clusters", "intermediates", "api_tokens", "meta"];
  return Object.fromEntries(tables.map((t) => [t, (db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n]));
}

/** The audit context core calls in tests run under. */
export const TEST_CTX = systemContext("test");

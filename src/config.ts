import { isIP } from "node:net";
import { resolve } from "node:path";
import { Cron } from "croner";
import { z } from "zod";

const bool = z
  .enum(["true", "false", "1", "0", "yes", "no"], { message: "must be true or false" })
  .transform((v) => v === "true" || v === "1" || v === "yes");

const optionalPath = z.string().min(1).optional();

/** Every environment variable meshroot reads, with its default (README "Configuration"). */
const envSchema = z
  .object({
    MESHROOT_ENV: z.enum(["development", "production"]).default("development").describe("development or production (production needs an explicit master key and `meshroot init`)"),
    MESHROOT_DATA_DIR: z.string().min(1).default("./data").describe("data directory: the database, the development master key and admin token"),
    MESHROOT_DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\/./, "must be a postgres:// URL, e.g. postgres://meshroot@db.internal:5432/meshroot?sslmode=verify-full")
      .optional()
      .describe("PostgreSQL database shared by every replica (postgres://user:password@host:5432/db; TLS by the URL's sslmode); unset: SQLite in the data directory"),
    MESHROOT_DATABASE_POOL_SIZE: z.coerce
      .number({ message: "must be a whole number of connections (1-200)" })
      .int("must be a whole number of connections (1-200)")
      .min(1, "must be a whole number of connections (1-200)")
      .max(200, "must be a whole number of connections (1-200)")
      .default(10)
      .describe("PostgreSQL connections per replica (1-200)"),
    MESHROOT_DATABASE_CA_FILE: optionalPath.describe("verify the PostgreSQL server's TLS certificate against this CA (PEM)"),
    MESHROOT_HOST: z.string().min(1).default("127.0.0.1").describe("listen address; a non-loopback one needs TLS or MESHROOT_ALLOW_INSECURE_HTTP=true"),
    MESHROOT_PORT: z.coerce
      .number({ message: "must be a port number (0-65535)" })
      .int("must be a port number (0-65535)")
      .min(0, "must be a port number (0-65535)")
      .max(65535, "must be a port number (0-65535)")
      .default(8080)
      .describe("listen port (0 picks a free one)"),
    MESHROOT_MASTER_KEY_FILE: optionalPath.describe("file holding the 32-byte key-encryption key, base64 or raw (development: <data>/master.key, generated)"),
    MESHROOT_MASTER_KEY: z.string().min(1).optional().describe("the same key inline, base64; set this or MESHROOT_MASTER_KEY_FILE"),
    MESHROOT_ADMIN_TOKEN: z.string().min(32, "must be at least 32 characters").max(512).optional().describe("the bootstrap admin token on first start (at least 32 characters; default random)"),
    MESHROOT_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional().describe("base URL written into new intermediates' CRL distribution point and AIA"),
    MESHROOT_TLS_CERT_FILE: optionalPath.describe("serve HTTPS with this certificate (PEM), with MESHROOT_TLS_KEY_FILE"),
    MESHROOT_TLS_KEY_FILE: optionalPath.describe("the TLS certificate's private key (PEM)"),
    MESHROOT_TLS_CLIENT_CA_FILE: optionalPath.describe("also require client certificates signed by this CA (PEM)"),
    MESHROOT_ALLOW_INSECURE_HTTP: bool.default(false).describe("allow plain HTTP on a non-loopback address (behind a TLS-terminating proxy)"),
    MESHROOT_ROTATION_SCHEDULE: z
      .string()
      .refine(validCron, "must be a cron expression of five or six fields, e.g. '0 3 * * *' (03:00 UTC daily)")
      .optional()
      .describe("cron expression (5 or 6 fields, UTC) for in-process rotation of due clusters"),
    MESHROOT_CRL_VALIDITY_HOURS: z.coerce
      .number({ message: "must be a whole number of hours (1-2160)" })
      .int("must be a whole number of hours (1-2160)")
      .min(1, "must be a whole number of hours (1-2160)")
      .max(2160, "must be a whole number of hours (1-2160)")
      .default(168)
      .describe("hours from a signed CRL's thisUpdate to its nextUpdate (1-2160)"),
    MESHROOT_OBSERVATION_MAX_AGE: z.coerce
      .number({ message: "must be a whole number of hours (1-8760)" })
      .int("must be a whole number of hours (1-8760)")
      .min(1, "must be a whole number of hours (1-8760)")
      .max(8760, "must be a whole number of hours (1-8760)")
      .default(24)
      .describe("hours after which a cluster's latest observation is stale (1-8760)"),
    MESHROOT_WORKLOAD_CERT_TTL: z.coerce
      .number({ message: "must be a whole number of hours (1-8760)" })
      .int("must be a whole number of hours (1-8760)")
      .min(1, "must be a whole number of hours (1-8760)")
      .max(8760, "must be a whole number of hours (1-8760)")
      .default(24)
      .describe("hours a workload certificate lives (istiod's WORKLOAD_CERT_TTL): a superseded intermediate's CRL leaves ca-crl.pem this long after its cluster was seen signing with a successor (1-8760)"),
    MESHROOT_PREPARE_LEAD: z.coerce
      .number({ message: "must be a whole number of hours (0-8760)" })
      .int("must be a whole number of hours (0-8760)")
      .min(0, "must be a whole number of hours (0-8760)")
      .max(8760, "must be a whole number of hours (0-8760)")
      .default(48)
      .describe("hours ahead of rotate-after that a staged rotation (trust domain with caCrl) prepares the next intermediate; a peer that never reported counts as having its CRL this long after (0-8760)"),
    MESHROOT_MAX_ISSUANCES_PER_CLUSTER_PER_DAY: z.coerce
      .number({ message: "must be a whole number (1-10000)" })
      .int("must be a whole number (1-10000)")
      .min(1, "must be a whole number (1-10000)")
      .max(10000, "must be a whole number (1-10000)")
      .default(24)
      .describe("new intermediates one cluster may get in any 24 hours (1-10000)"),
    MESHROOT_TRUST_PROXY: z
      .string()
      .refine(validTrustProxy, "must be true, false, a hop count, or a comma-separated list of addresses/CIDRs")
      .optional()
      .describe("whose X-Forwarded-For to believe: true, a hop count, or addresses/CIDRs"),
    MESHROOT_METRICS_TOKEN_REQUIRED: bool.default(false).describe("GET /metrics needs a valid token (any role)"),
    MESHROOT_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info").describe("fatal, error, warn, info, debug, trace or silent"),
    MESHROOT_PKCS11_MODULE: optionalPath.describe("PKCS#11 library of the HSM that holds root keys (e.g. /usr/lib/softhsm/libsofthsm2.so); enables keyStorage pkcs11"),
    MESHROOT_PKCS11_TOKEN: z.string().min(1).max(32).optional().describe("label of the HSM token that holds root keys (with MESHROOT_PKCS11_MODULE)"),
    MESHROOT_PKCS11_PIN_FILE: optionalPath.describe("file holding the token's user PIN (preferred over MESHROOT_PKCS11_PIN)"),
    MESHROOT_PKCS11_PIN: z.string().min(1).optional().describe("the token's user PIN itself; set this or MESHROOT_PKCS11_PIN_FILE"),
    MESHROOT_PKCS11_MASTER_KEY: bool
      .default(false)
      .describe("keep the master key in the HSM token too: an AES key there wraps every record's data key (created on first start), instead of MESHROOT_MASTER_KEY(_FILE)"),
  })
  .superRefine((env, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
    if (env.MESHROOT_MASTER_KEY && env.MESHROOT_MASTER_KEY_FILE) {
      issue("MESHROOT_MASTER_KEY", "set MESHROOT_MASTER_KEY or MESHROOT_MASTER_KEY_FILE, not both");
    }
    if (env.MESHROOT_ENV === "production" && !env.MESHROOT_MASTER_KEY && !env.MESHROOT_MASTER_KEY_FILE && !env.MESHROOT_PKCS11_MASTER_KEY) {
      issue("MESHROOT_MASTER_KEY_FILE", "production needs an explicit master key (MESHROOT_MASTER_KEY_FILE or MESHROOT_MASTER_KEY, or MESHROOT_PKCS11_MASTER_KEY=true)");
    }
    if (env.MESHROOT_PKCS11_MASTER_KEY && (env.MESHROOT_MASTER_KEY || env.MESHROOT_MASTER_KEY_FILE)) {
      issue("MESHROOT_PKCS11_MASTER_KEY", "the master key is either in the HSM (MESHROOT_PKCS11_MASTER_KEY=true) or in MESHROOT_MASTER_KEY(_FILE), not both");
    }
    if (env.MESHROOT_PKCS11_MASTER_KEY && !env.MESHROOT_PKCS11_MODULE) issue("MESHROOT_PKCS11_MASTER_KEY", "a master key in the HSM needs MESHROOT_PKCS11_MODULE and the token settings");
    if (Boolean(env.MESHROOT_TLS_CERT_FILE) !== Boolean(env.MESHROOT_TLS_KEY_FILE)) {
      issue("MESHROOT_TLS_CERT_FILE", "MESHROOT_TLS_CERT_FILE and MESHROOT_TLS_KEY_FILE go together");
    }
    if (env.MESHROOT_PKCS11_MODULE && !env.MESHROOT_PKCS11_TOKEN) issue("MESHROOT_PKCS11_TOKEN", "MESHROOT_PKCS11_MODULE needs the label of the token to use");
    if (env.MESHROOT_PKCS11_MODULE && !env.MESHROOT_PKCS11_PIN && !env.MESHROOT_PKCS11_PIN_FILE) issue("MESHROOT_PKCS11_PIN_FILE", "MESHROOT_PKCS11_MODULE needs the token's PIN: MESHROOT_PKCS11_PIN_FILE or MESHROOT_PKCS11_PIN");
    if (env.MESHROOT_PKCS11_PIN && env.MESHROOT_PKCS11_PIN_FILE) issue("MESHROOT_PKCS11_PIN", "set MESHROOT_PKCS11_PIN or MESHROOT_PKCS11_PIN_FILE, not both");
    if (!env.MESHROOT_PKCS11_MODULE && (env.MESHROOT_PKCS11_TOKEN || env.MESHROOT_PKCS11_PIN || env.MESHROOT_PKCS11_PIN_FILE)) {
      issue("MESHROOT_PKCS11_MODULE", "the MESHROOT_PKCS11_* settings need MESHROOT_PKCS11_MODULE, the path of the HSM's PKCS#11 library");
    }
    if (env.MESHROOT_TLS_CLIENT_CA_FILE && !env.MESHROOT_TLS_CERT_FILE) {
      issue("MESHROOT_TLS_CLIENT_CA_FILE", "client-certificate auth needs TLS (MESHROOT_TLS_CERT_FILE and MESHROOT_TLS_KEY_FILE)");
    }
    if (!env.MESHROOT_TLS_CERT_FILE && !isLoopback(env.MESHROOT_HOST) && !env.MESHROOT_ALLOW_INSECURE_HTTP) {
      issue(
        "MESHROOT_HOST",
        `listening on ${env.MESHROOT_HOST} without TLS exposes tokens and keys; configure TLS or set MESHROOT_ALLOW_INSECURE_HTTP=true (e.g. behind a TLS-terminating proxy)`,
      );
    }
  });

export interface Config {
  env: "development" | "production";
  dataDir: string;
  /** PostgreSQL (MESHROOT_DATABASE_URL) shared by every replica; undefined: SQLite in dataDir. */
  database: { url: string; poolSize: number; caFile: string | undefined } | undefined;
  host: string;
  port: number;
  masterKeyFile: string | undefined;
  masterKey: string | undefined;
  adminToken: string | undefined;
  publicUrl: string | undefined;
  tls: { certFile: string; keyFile: string; clientCaFile: string | undefined } | undefined;
  logLevel: string;
  rotationSchedule: string | undefined;
  crlValidityMs: number;
  /** A cluster whose latest observation is older than this is stale (MESHROOT_OBSERVATION_MAX_AGE hours). */
  observationMaxAgeMs: number;
  /** How long workload certificates live (MESHROOT_WORKLOAD_CERT_TTL hours): CRL pruning waits this long. */
  workloadCertTtlMs: number;
  /** How far ahead of rotate-after staged rotations prepare (MESHROOT_PREPARE_LEAD hours). */
  prepareLeadMs: number;
  /** fastify `trustProxy`: whose X-Forwarded-For to believe for the client address (false: nobody). */
  trustProxy: boolean | number | string[];
  /** When true, /metrics needs a valid token (any role). */
  metricsTokenRequired: boolean;
  /** Most intermediates one cluster may get in any 24 hours (idempotent replays do not count). */
  maxIssuancesPerClusterPerDay: number;
  /** The HSM that holds root keys (keyStorage pkcs11), when configured; the PIN inline or in a file (read at start). */
  pkcs11: { module: string; token: string; pin: string | undefined; pinFile: string | undefined; masterKey: boolean } | undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/**
 * Parses the environment once into a frozen Config. Empty variables count as unset.
 * Throws ConfigError listing every bad value.
 */
export function parseConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const present = Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith("MESHROOT_") && v !== ""));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join(".") || "environment"}: ${i.message}`));
  }
  const e = parsed.data;
  return Object.freeze({
    env: e.MESHROOT_ENV,
    dataDir: resolve(e.MESHROOT_DATA_DIR),
    database: e.MESHROOT_DATABASE_URL
      ? { url: e.MESHROOT_DATABASE_URL, poolSize: e.MESHROOT_DATABASE_POOL_SIZE, caFile: e.MESHROOT_DATABASE_CA_FILE }
      : undefined,
    host: e.MESHROOT_HOST,
    port: e.MESHROOT_PORT,
    masterKeyFile: e.MESHROOT_MASTER_KEY_FILE,
    masterKey: e.MESHROOT_MASTER_KEY,
    adminToken: e.MESHROOT_ADMIN_TOKEN,
    publicUrl: e.MESHROOT_PUBLIC_URL?.replace(/\/+$/, ""),
    tls: e.MESHROOT_TLS_CERT_FILE
      ? { certFile: e.MESHROOT_TLS_CERT_FILE, keyFile: e.MESHROOT_TLS_KEY_FILE!, clientCaFile: e.MESHROOT_TLS_CLIENT_CA_FILE }
      : undefined,
    logLevel: e.MESHROOT_LOG_LEVEL,
    rotationSchedule: e.MESHROOT_ROTATION_SCHEDULE,
    crlValidityMs: e.MESHROOT_CRL_VALIDITY_HOURS * 3_600_000,
    observationMaxAgeMs: e.MESHROOT_OBSERVATION_MAX_AGE * 3_600_000,
    workloadCertTtlMs: e.MESHROOT_WORKLOAD_CERT_TTL * 3_600_000,
    prepareLeadMs: e.MESHROOT_PREPARE_LEAD * 3_600_000,
    trustProxy: parseTrustProxy(e.MESHROOT_TRUST_PROXY),
    metricsTokenRequired: e.MESHROOT_METRICS_TOKEN_REQUIRED,
    maxIssuancesPerClusterPerDay: e.MESHROOT_MAX_ISSUANCES_PER_CLUSTER_PER_DAY,
    pkcs11: e.MESHROOT_PKCS11_MODULE
      ? { module: e.MESHROOT_PKCS11_MODULE, token: e.MESHROOT_PKCS11_TOKEN!, pin: e.MESHROOT_PKCS11_PIN, pinFile: e.MESHROOT_PKCS11_PIN_FILE, masterKey: e.MESHROOT_PKCS11_MASTER_KEY }
      : undefined,
  });
}

/** Settings of the CLI's client mode (src/cli/client.ts): not the server's, but meshroot's all the same. */
export const CLIENT_SETTINGS = ["MESHROOT_URL", "MESHROOT_TOKEN", "MESHROOT_TOKEN_FILE", "MESHROOT_CA_FILE"] as const;

type SettingSchema = z.ZodType & { _zod: { def: { type: string; defaultValue?: unknown } } };

/** The server's settings as `serve --help` lists them: name, default (if any) and description, from the schema. */
export function serverSettings(): { name: string; defaultValue: string | undefined; description: string }[] {
  return Object.entries(envSchema.shape).map(([name, schema]) => {
    const def = (schema as SettingSchema)._zod.def;
    return { name, defaultValue: def.type === "default" ? String(def.defaultValue) : undefined, description: schema.description ?? "" };
  });
}

/** The text `serve --help` ends with: every MESHROOT_* server setting, one line each. */
export function settingsHelp(): string {
  const settings = serverSettings();
  const width = Math.max(...settings.map((s) => s.name.length)) + 2;
  const lines = settings.map((s) => `  ${s.name.padEnd(width)}${s.description}${s.defaultValue === undefined ? "" : ` (default: ${s.defaultValue})`}`);
  return `\nSettings (environment variables; empty counts as unset):\n${lines.join("\n")}\n`;
}

/**
 * The MESHROOT_* variables of `env` that meshroot does not read (typos such as MESHROOT_DATADIR),
 * each as a warning naming the setting it most likely meant, when one is close.
 */
export function unknownSettings(env: NodeJS.ProcessEnv = process.env): string[] {
  const known = [...Object.keys(envSchema.shape), ...CLIENT_SETTINGS];
  return Object.keys(env)
    .filter((name) => name.startsWith("MESHROOT_") && !known.includes(name))
    .sort()
    .map((name) => {
      const guess = closest(name, known);
      return `${name} is not a meshroot setting and is ignored${guess ? ` (did you mean ${guess}?)` : ""}; see meshroot serve --help`;
    });
}

/** The known name nearest to `name` (underscores ignored), if it is a likely typo of it. */
function closest(name: string, known: string[]): string | undefined {
  const bare = (s: string) => s.slice("MESHROOT_".length).replaceAll("_", "");
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = Math.min(editDistance(bare(name), bare(candidate)), editDistance(name, candidate));
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  return best && best.distance <= Math.max(2, Math.floor(bare(best.name).length / 4)) ? best.name : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/** MESHROOT_TRUST_PROXY as fastify's trustProxy: a boolean, a hop count, or addresses/CIDRs. */
function parseTrustProxy(value: string | undefined): boolean | number | string[] {
  if (value === undefined || value === "false" || value === "0") return false;
  if (value === "true") return true;
  if (/^\d+$/.test(value)) return Number(value);
  return value.split(",").map((s) => s.trim());
}

function validTrustProxy(value: string): boolean {
  if (value === "true" || value === "false" || /^\d{1,2}$/.test(value)) return true;
  return value.split(",").every((part) => {
    const [addr, bits, ...rest] = part.trim().split("/");
    const family = isIP(addr ?? "");
    if (family === 0 || rest.length > 0) return false;
    if (bits === undefined) return true;
    const n = Number(bits);
    return /^\d+$/.test(bits) && n <= (family === 4 ? 32 : 128);
  });
}

function validCron(expr: string): boolean {
  try {
    new Cron(expr, { paused: true, timezone: "UTC" }).stop();
    return true;
  } catch {
    return false;
  }
}

function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}

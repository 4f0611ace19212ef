import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { buildApp, LOG_REDACT } from "../http/app.js";
import { CLIENT_SETTINGS, parseConfig, settingsHelp, unknownSettings, type Config } from "../config.js";
import { DomainError } from "../errors.js";
import { ADMIN_TOKEN_FILE, bootstrapAdminToken, DB_FILE, lockDataDir, openRuntime, writeAdminTokenFile } from "../runtime.js";
import { startBackgroundJobs } from "./background.js";
import { stderrNotice } from "./notice.js";

/** What `serve --help` adds after the options: every server setting, from the config schema. */
export const serveHelp = (): string =>
  `${settingsHelp()}\nA MESHROOT_* variable that is none of these (nor a client-mode setting: ${CLIENT_SETTINGS.join(", ")}) is warned about at start.\n`;

/**
 * `meshroot serve`: open the data directory (development: initialise it on first start;
 * production: only one `meshroot init` made), take its lock, bootstrap, listen, and drain on
 * SIGTERM/SIGINT. Throws DomainError `config_invalid` for what the operator must fix.
 */
export async function serveCommand(): Promise<void> {
  const config = parseConfig();
  for (const warning of unknownSettings()) stderrNotice("info", `warning: ${warning}`);
  if (config.env === "production" && !config.database && !existsSync(join(config.dataDir, DB_FILE))) {
    throw new DomainError(
      "config_invalid",
      `${config.dataDir} holds no meshroot database: run meshroot init first, with the same settings (in production serve does not initialise a data directory)`,
    );
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  lockDataDir(config.dataDir, stderrNotice);
  // A busy port is found before anything is created in a fresh data directory.
  await checkPortFree(config);
  const runtime = await openRuntime(config, stderrNotice);
  if (config.env === "production" && !config.adminToken && !(await runtime.core.tokens.bootstrapped())) {
    runtime.close();
    throw new DomainError("config_invalid", `${config.dataDir} has no API tokens: run meshroot init to create the bootstrap admin token (in production serve writes no token file)`);
  }
  const secret = await bootstrapAdminToken(runtime, config);
  if (secret !== undefined) {
    if (config.adminToken) {
      stderrNotice("info", "created the bootstrap admin token from MESHROOT_ADMIN_TOKEN");
    } else {
      const path = writeAdminTokenFile(config, secret);
      stderrNotice("info", `created the bootstrap admin token; it is in ${path} (mode 0600). Read it once, store it safely, then delete the file.`);
    }
  }

  const app = await buildApp({
    core: runtime.core,
    clock: runtime.clock,
    readiness: runtime.readiness,
    metrics: runtime.metrics,
    publicCache: runtime.publicCache,
    logger: { level: config.logLevel, redact: { paths: LOG_REDACT, censor: "[redacted]" } },
    https: tlsOptions(config),
    trustProxy: config.trustProxy,
    metricsTokenRequired: config.metricsTokenRequired,
  });

  let address: string;
  try {
    address = await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await app.close();
    runtime.close();
    throw listenError(err, config);
  }

  // On PostgreSQL only the replica holding the leader lock runs them.
  const stopJobs = runtime.runBackgroundJobs(() => startBackgroundJobs(runtime.core, app.log, config.rotationSchedule), {
    info: (msg) => app.log.info(msg),
    error: (obj, msg) => app.log.error(obj, msg),
  });
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, "shutting down: draining connections");
    // The jobs' last audit checkpoint is written before the database closes.
    stopJobs()
      .then(() => app.close())
      .then(() => {
        runtime.close();
        process.exit(0);
      })
      .catch((err: unknown) => {
        app.log.error({ err }, "shutdown failed");
        process.exit(1);
      });
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));

  const tokenHint = secret === undefined ? "" : config.adminToken ? " (admin token: MESHROOT_ADMIN_TOKEN)" : ` (admin token: ${join(config.dataDir, ADMIN_TOKEN_FILE)})`;
  stderrNotice("info", `listening on ${address} with data in ${runtime.location}${tokenHint}; API docs at ${address}/docs`);
}

/** Binds the configured address once and lets it go: throws listenError's line when it is taken. */
async function checkPortFree(config: Readonly<Config>): Promise<void> {
  if (config.port === 0) return;
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen({ host: config.host, port: config.port, exclusive: true }, resolve);
    });
  } catch (err) {
    throw listenError(err, config);
  }
  await new Promise((resolve) => probe.close(resolve));
}

/** A listen failure the operator can act on, as one line; anything else unchanged. */
function listenError(err: unknown, config: Readonly<Config>): unknown {
  const where = `port ${config.port} on ${config.host}`;
  switch ((err as NodeJS.ErrnoException).code) {
    case "EADDRINUSE":
      return new DomainError("config_invalid", `${where} is in use (another meshroot serve, or another program): stop it, or set MESHROOT_PORT to a free port`);
    case "EACCES":
      return new DomainError("config_invalid", `${where} needs privileges this user lacks: set MESHROOT_PORT to 1024 or above`);
    case "EADDRNOTAVAIL":
    case "ENOTFOUND":
      return new DomainError("config_invalid", `cannot listen on ${config.host}: it is not an address of this machine (MESHROOT_HOST)`);
    default:
      return err;
  }
}

/**
 * TLS 1.2 suites offered: forward-secret (ECDHE) AEAD only. TLS 1.3 suites are all AEAD and
 * forward-secret, and Node configures them separately.
 */
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** The HTTPS options of `serve`: the configured certificate, TLS 1.2 or later, strong suites only. */
export function tlsOptions(config: Readonly<Config>) {
  if (!config.tls) return undefined;
  const ca = config.tls.clientCaFile ? readFileSync(config.tls.clientCaFile) : undefined;
  return {
    cert: readFileSync(config.tls.certFile),
    key: readFileSync(config.tls.keyFile),
    minVersion: "TLSv1.2" as const,
    ciphers: TLS12_CIPHERS,
    honorCipherOrder: true,
    ...(ca ? { ca, requestCert: true, rejectUnauthorized: true } : {}),
  };
}

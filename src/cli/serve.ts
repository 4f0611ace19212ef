import { readFileSync } from "node:fs";
import { join } from "node:path";
import { buildApp, LOG_REDACT } from "../http/app.js";
import { parseConfig, type Config } from "../config.js";
import { ADMIN_TOKEN_FILE, bootstrapAdminToken, openRuntime, writeAdminTokenFile } from "../runtime.js";
import { startBackgroundJobs } from "./background.js";
import { stderrNotice } from "./notice.js";

/** `meshroot serve`: open the data directory, bootstrap, listen, and drain on SIGTERM/SIGINT. */
export async function serveCommand(): Promise<void> {
  const config = parseConfig();
  const runtime = await openRuntime(config, stderrNotice);
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

  const stopJobs = startBackgroundJobs(runtime.core, app.log, config.rotationSchedule);
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

  const address = await app.listen({ host: config.host, port: config.port });
  const tokenHint = secret === undefined ? "" : config.adminToken ? " (admin token: MESHROOT_ADMIN_TOKEN)" : ` (admin token: ${join(config.dataDir, ADMIN_TOKEN_FILE)})`;
  stderrNotice("info", `listening on ${address} with data in ${config.dataDir}${tokenHint}; API docs at ${address}/docs`);
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

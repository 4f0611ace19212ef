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
  });

  const stopJobs = startBackgroundJobs(runtime.core, app.log, config.rotationSchedule);
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, "shutting down: draining connections");
    stopJobs();
    app
      .close()
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

function tlsOptions(config: Readonly<Config>) {
  if (!config.tls) return undefined;
  const ca = config.tls.clientCaFile ? readFileSync(config.tls.clientCaFile) : undefined;
  return {
    cert: readFileSync(config.tls.certFile),
    key: readFileSync(config.tls.keyFile),
    ...(ca ? { ca, requestCert: true, rejectUnauthorized: true } : {}),
  };
}

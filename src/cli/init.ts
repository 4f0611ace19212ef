import { parseConfig } from "../config.js";
import { DomainError } from "../errors.js";
import { bootstrapAdminToken, openRuntime } from "../runtime.js";
import { stderrNotice } from "./notice.js";

/**
 * `meshroot init`: for production installs. Needs an explicit master key, creates and migrates
 * the database, and prints the bootstrap admin token on stdout, once.
 */
export async function initCommand(): Promise<void> {
  const config = parseConfig();
  if (!config.masterKey && !config.masterKeyFile) {
    throw new DomainError("config_invalid", "init needs an explicit master key: set MESHROOT_MASTER_KEY_FILE (or MESHROOT_MASTER_KEY)");
  }
  // Every file init creates (database, -wal, -shm) is owner-only.
  process.umask(0o077);
  const runtime = await openRuntime(config, stderrNotice);
  try {
    const secret = await bootstrapAdminToken(runtime, config);
    if (secret === undefined) {
      throw new DomainError("config_invalid", `${config.dataDir} is already initialised; its admin token was shown when it was created`);
    }
    stderrNotice("info", `initialised ${config.dataDir}; the bootstrap admin token follows on stdout and is not shown again`);
    if (!config.adminToken) process.stdout.write(`${secret}\n`);
  } finally {
    runtime.close();
  }
}

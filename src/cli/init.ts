import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseConfig, unknownSettings } from "../config.js";
import { DomainError } from "../errors.js";
import { ADMIN_TOKEN_FILE, bootstrapAdminToken, DB_FILE, openRuntime } from "../runtime.js";
import { stderrNotice } from "./notice.js";

/**
 * `meshroot init`: for production installs. Needs an explicit master key, creates and migrates
 * the database, and creates the bootstrap admin token: printed on stdout once, or taken from
 * MESHROOT_ADMIN_TOKEN (then nothing is printed). Throws DomainError `config_invalid` when the
 * data directory already has tokens.
 */
export async function initCommand(): Promise<void> {
  const config = parseConfig();
  for (const warning of unknownSettings()) stderrNotice("info", `warning: ${warning}`);
  if (!config.masterKey && !config.masterKeyFile && !config.pkcs11?.masterKey) {
    throw new DomainError("config_invalid", "init needs an explicit master key: set MESHROOT_MASTER_KEY_FILE (or MESHROOT_MASTER_KEY), or keep it in the HSM with MESHROOT_PKCS11_MASTER_KEY=true");
  }
  const dbPath = join(config.dataDir, DB_FILE);
  const fresh = !existsSync(dbPath);
  // Every file init creates (database, -wal, -shm) is owner-only.
  process.umask(0o077);
  const runtime = await openRuntime(config, stderrNotice);
  try {
    const secret = await bootstrapAdminToken(runtime, config);
    if (secret === undefined) {
      const tokenFile = join(config.dataDir, ADMIN_TOKEN_FILE);
      throw new DomainError(
        "config_invalid",
        `${config.dataDir} is already initialised (its database has API tokens); nothing was created. ` +
          `Its bootstrap admin token was given when it was created${existsSync(tokenFile) ? ` (development serve left it in ${tokenFile})` : ""}; ` +
          "for another token run: meshroot token create --name <name> --role admin",
      );
    }
    // On PostgreSQL the database is the server's (runtime.location names it), not a file here.
    const where = runtime.backend === "sqlite" ? dbPath : runtime.location;
    const created = runtime.backend === "sqlite" && fresh ? `created ${where}` : `bootstrapped the database ${where}`;
    if (config.adminToken) {
      stderrNotice("info", `initialised ${config.dataDir}: ${created}; the bootstrap admin token is the value of MESHROOT_ADMIN_TOKEN (nothing is printed)`);
    } else {
      stderrNotice("info", `initialised ${config.dataDir}: ${created}; the bootstrap admin token follows on stdout and is not shown again`);
      process.stdout.write(`${secret}\n`);
    }
  } finally {
    runtime.close();
  }
}

#!/usr/bin/env node
import "reflect-metadata";
import { Command } from "commander";
import { ConfigError } from "../config.js";
import { DomainError } from "../errors.js";
import { VERSION } from "../version.js";
import { backupCommand } from "./backup.js";
import { CliError, reportCliError, withClientOptions } from "./client.js";
import { registerClientCommands, registerDualModeCommands } from "./commands.js";
import { initCommand } from "./init.js";
import { observeCommand } from "./observe.js";
import { registerRootRotationCommands } from "./root-rotation.js";
import { serveCommand, serveHelp } from "./serve.js";

const program = new Command()
  .name("meshroot")
  .description("Certificate authority for multi-cluster Istio meshes. Configuration comes from MESHROOT_* environment variables (see README).")
  .version(VERSION);

// Two kinds of command: those that open the data directory's database in this process, and
// client-mode ones that call a running server's REST API. --help lists them apart.
program.commandsGroup("Commands that open the database directly (run where the data directory is; MESHROOT_DATA_DIR):");

program
  .command("serve")
  .description("serve the REST API (development: initialises the data directory on first start; production: run init first)")
  .addHelpText("after", serveHelp)
  .action(() => serveCommand());

program
  .command("init")
  .description("initialise the data directory with an explicit master key and print the bootstrap admin token once")
  .action(() => initCommand());

program
  .command("backup")
  .description("write a consistent online backup of the database to <file> (SQLite backup API)")
  .argument("<file>", "destination file; must not exist")
  .action((file: string) => backupCommand(file));

program
  .command("migrate-data")
  .description("copy this data directory's SQLite database into an empty PostgreSQL database (every row; the audit chain verified there)")
  .requiredOption("--to <url>", "the PostgreSQL database: postgres://user:password@host:5432/db (sslmode in the URL)")
  .option("--ca-file <file>", "PEM CA certificate(s) that verify the PostgreSQL server (default: MESHROOT_DATABASE_CA_FILE)")
  // Loaded on use: the PostgreSQL client stays out of every other command's start-up.
  .action(async (opts: { to: string; caFile?: string }) => (await import("./migrate-data.js")).migrateDataCommand(opts));

program.commandsGroup(
  "Commands that call a running server when MESHROOT_URL (or --url) is set, and open the database otherwise (--offline forces the database):",
);
registerDualModeCommands(program);

program.commandsGroup("Commands that talk to a running server (MESHROOT_URL, MESHROOT_TOKEN_FILE or MESHROOT_TOKEN, MESHROOT_CA_FILE):");

withClientOptions(
  program
    .command("observe")
    .description("report what a cluster's Istio loaded and print its trust state (exit 4 with --fail-on-drift when not converged)")
    .requiredOption("--cluster <name>", "the cluster reporting")
    .option("--root-cert <file>", "root-cert.pem as the istio-ca-root-cert ConfigMap holds it")
    .option("--ca-cert <file>", "istiod's signing certificate (ca-cert.pem or tls.crt)")
    .option("--crl <file>", "ca-crl.pem from the istio-ca-crl ConfigMap")
    .option("--istio-version <version>", "the Istio version running")
    .option("--multi-root", "ISTIO_MULTIROOT_MESH is on")
    .option("--no-multi-root", "ISTIO_MULTIROOT_MESH is off")
    .option("--ambient", "the mesh runs in ambient mode")
    .option("--no-ambient", "the mesh does not run in ambient mode")
    .option("--configmap <file>", "send a ConfigMap as JSON (kubectl get cm … -o json) unedited; '-' reads it from stdin (only then is stdin read)")
    .option("--fail-on-drift", "exit 4 when the trust state is not converged (for CI steps)"),
).action((opts) => observeCommand(opts));

registerClientCommands(program);
registerRootRotationCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CliError) process.exit(reportCliError(err));
  if (err instanceof ConfigError || err instanceof DomainError) {
    process.stderr.write(`meshroot: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`meshroot: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

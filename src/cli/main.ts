#!/usr/bin/env node
import "reflect-metadata";
import { Command, InvalidArgumentError } from "commander";
import { ConfigError } from "../config.js";
import { DomainError } from "../errors.js";
import { VERSION } from "../version.js";
import { auditVerifyCommand } from "./audit.js";
import { backupCommand } from "./backup.js";
import { CliError, reportCliError, withClientOptions } from "./client.js";
import { initCommand } from "./init.js";
import { DEFAULT_NAMESPACE } from "../istio/cacerts.js";
import { observeCommand } from "./observe.js";
import { rotateCommand } from "./rotate.js";
import { serveCommand, serveHelp } from "./serve.js";
import { tokenCreateCommand } from "./token.js";

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

const token = program.command("token").description("manage API tokens directly in the database");
token
  .command("create")
  .description("create an API token and print its secret (shown once)")
  .requiredOption("--name <name>", "what the token is for")
  .requiredOption("--role <role>", "admin, provisioner or auditor", (v) => {
    if (!["admin", "provisioner", "auditor"].includes(v)) throw new InvalidArgumentError("must be admin, provisioner or auditor");
    return v as "admin" | "provisioner" | "auditor";
  })
  .option("--cluster <pattern...>", "provisioner only: limit to clusters matching these patterns (e.g. 'prod-*')")
  .option("--trust-domain <name...>", "provisioner only: the trust domains it may act in ('*' for all); without it a provisioner may act in none")
  .option("--expires-in <days>", "days until the token expires (default: never)", (v) => {
    const n = Number(v.replace(/d$/, ""));
    if (!Number.isInteger(n) || n < 1 || n > 3650) throw new InvalidArgumentError("must be a number of days, 1-3650 (e.g. 90 or 90d)");
    return n;
  })
  .action((opts) => tokenCreateCommand(opts));

program
  .command("rotate")
  .description("rotate every cluster whose intermediate is due (for a CronJob or CI schedule)")
  .requiredOption("--due", "rotate the clusters that are due (required: the only mode)")
  .option("--trust-domain <name>", "only clusters of this trust domain")
  .option("--dry-run", "report what would be rotated without issuing")
  .option("--out <dir>", "write each rotated cluster's cacerts Secret to <dir>/<cluster>.yaml")
  .option("--namespace <ns>", "namespace of the written Secrets", DEFAULT_NAMESPACE)
  .action((opts) => rotateCommand(opts));

program
  .command("audit")
  .description("work with the audit trail")
  .command("verify")
  .description("recompute the audit hash chain, check it against the newest signed checkpoint, report what is broken (exit 1)")
  .option("--expect-head <seq:hash>", "the chain head recorded elsewhere (log line, metric): the chain must contain it, and checkpoints cover what follows")
  .action((opts: { expectHead?: string }) => auditVerifyCommand(opts));

program
  .command("backup")
  .description("write a consistent online backup of the database to <file> (SQLite backup API)")
  .argument("<file>", "destination file; must not exist")
  .action((file: string) => backupCommand(file));

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

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CliError) process.exit(reportCliError(err));
  if (err instanceof ConfigError || err instanceof DomainError) {
    process.stderr.write(`meshroot: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`meshroot: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

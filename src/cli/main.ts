#!/usr/bin/env node
import "reflect-metadata";
import { Command, InvalidArgumentError } from "commander";
import { ConfigError } from "../config.js";
import { DomainError } from "../errors.js";
import { VERSION } from "../version.js";
import { auditVerifyCommand } from "./audit.js";
import { backupCommand } from "./backup.js";
import { initCommand } from "./init.js";
import { DEFAULT_NAMESPACE } from "../istio/cacerts.js";
import { rotateCommand } from "./rotate.js";
import { serveCommand } from "./serve.js";
import { tokenCreateCommand } from "./token.js";

const program = new Command()
  .name("meshroot")
  .description("Certificate authority for multi-cluster Istio meshes. Configuration comes from MESHROOT_* environment variables (see README).")
  .version(VERSION);

program
  .command("serve")
  .description("serve the REST API (initialises the data directory on first start)")
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

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof DomainError) {
    process.stderr.write(`meshroot: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`meshroot: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

import { InvalidArgumentError, Option, type Command } from "commander";
import { DEFAULT_NAMESPACE } from "../istio/cacerts.js";
import { KEY_ALGORITHMS } from "../x509/key-algorithms.js";
import { REVOCATION_REASON_NAMES } from "../x509/revocation-reasons.js";
import { auditExportCommand, auditVerifyCommand } from "./audit.js";
import { withClientOptions } from "./client.js";
import { clusterCreateCommand, clusterDecommissionCommand, clusterListCommand, clusterShowCommand } from "./clusters.js";
import { cacertsCommand, inventoryCommand, issueCommand, revokeCommand } from "./intermediates.js";
import { withDualModeOptions } from "./mode.js";
import { integer, label } from "./output.js";
import { rotateCommand } from "./rotate.js";
import { tokenCreateCommand, tokenListCommand, tokenRevokeCommand } from "./token.js";
import { trustDomainCreateCommand, trustDomainListCommand, trustDomainShowCommand, trustDomainUpdateCommand } from "./trust-domains.js";

// The commands of meshroot's --help besides serve, init, backup and observe (main.ts).

const CLIENT = "[client mode]";
const EITHER = "[client mode with MESHROOT_URL or --url; else opens the database]";

const role = (v: string) => {
  if (!["admin", "provisioner", "auditor"].includes(v)) throw new InvalidArgumentError("must be admin, provisioner or auditor");
  return v as "admin" | "provisioner" | "auditor";
};

const keyAlgorithm = () => new Option("--key-algorithm <algorithm>", "key algorithm").choices(KEY_ALGORITHMS);

/** token, rotate, audit: each subcommand says which mode it runs in. */
export function registerDualModeCommands(program: Command): void {
  const token = program.command("token").description("manage API tokens: create (either mode), list and revoke (client mode)");
  withDualModeOptions(
    token
      .command("create")
      .description(`create an API token and print its secret (shown once) ${EITHER}`)
      .requiredOption("--name <name>", "what the token is for")
      .requiredOption("--role <role>", "admin, provisioner or auditor", role)
      .option("--cluster <pattern...>", "provisioner only: limit to clusters matching these patterns (e.g. 'prod-*')")
      .option("--trust-domain <name...>", "provisioner only: the trust domains it may act in ('*' for all); without it a provisioner may act in none")
      .option("--expires-in <days>", "days until the token expires (default: never)", (v) => {
        const n = Number(v.replace(/d$/, ""));
        if (!Number.isInteger(n) || n < 1 || n > 3650) throw new InvalidArgumentError("must be a number of days, 1-3650 (e.g. 90 or 90d)");
        return n;
      })
      .addOption(new Option("--output <format>", "the secret alone, or the token record with the secret under `token` as JSON").choices(["table", "json"]).default("table")),
  ).action((opts) => tokenCreateCommand(opts));
  withClientOptions(token.command("list").description(`list API tokens, never their secrets ${CLIENT}`)).action((opts) => tokenListCommand(opts));
  withClientOptions(token.command("revoke").description(`revoke an API token ${CLIENT}`).argument("<id>", "the token's id (meshroot token list)")).action((id: string, opts) =>
    tokenRevokeCommand(id, opts),
  );

  withDualModeOptions(
    program
      .command("rotate")
      .description(`rotate every cluster whose intermediate is due; JSON report on stdout (for a CronJob or CI schedule) ${EITHER}`)
      .requiredOption("--due", "rotate the clusters that are due (required: the only mode)")
      .option("--trust-domain <name>", "only clusters of this trust domain")
      .option("--dry-run", "report what would be rotated without issuing")
      .option("--out <dir>", "write each rotated cluster's cacerts Secret to <dir>/<cluster>.yaml (mode 0600; the folder is created)")
      .option("--crl", "put ca-crl.pem in the written Secrets (Istio >= 1.27), as cacerts --crl does")
      .option("--all", "with --out: write every cluster's Secret, not only the rotated ones (trust domains with caCrl stage rotations: every cluster's ca-crl.pem must be refreshed)")
      .option("--namespace <ns>", "namespace of the written Secrets", DEFAULT_NAMESPACE),
  ).action((opts) => rotateCommand(opts));

  const audit = program.command("audit").description("work with the audit trail: verify (either mode), export (client mode)");
  withDualModeOptions(
    audit
      .command("verify")
      .description(`recompute the audit hash chain, check it against the newest signed checkpoint, report what is broken (exit 1) ${EITHER}`)
      .option("--expect-head <seq:hash>", "the chain head recorded elsewhere (log line, metric): the chain must contain it, and checkpoints cover what follows"),
  ).action((opts) => auditVerifyCommand(opts));
  withClientOptions(
    audit
      .command("export")
      .description(`write matching audit events as NDJSON, oldest first, to stdout (verify a full export with docs/audit.md) ${CLIENT}`)
      .option("--action <action>", "e.g. intermediate.issue")
      .option("--actor <id>", "token id, or system")
      .option("--cluster <name>")
      .option("--trust-domain <name>")
      .addOption(new Option("--outcome <outcome>").choices(["success", "denied", "failure"]))
      .option("--since <time>", "events at or after this date or RFC 3339 time")
      .option("--until <time>", "events before this date or RFC 3339 time"),
    false,
  ).action((opts) => auditExportCommand(opts));
}

/** The client-mode commands: trust-domain, cluster, issue, cacerts, revoke, inventory. */
export function registerClientCommands(program: Command): void {
  const td = program.command("trust-domain").description("create and inspect trust domains and their roots");
  withClientOptions(
    td
      .command("create")
      .description("create a trust domain with a generated root, or an imported one (--import-cert and --import-key)")
      .requiredOption("--name <name>", "the SPIFFE trust domain, e.g. mesh.example.com")
      .addOption(keyAlgorithm())
      .option("--validity-days <days>", "root validity in days (server default 3650)", integer(1, 36_500))
      .option("--organization <O>", "O= of the root and its intermediates (server default meshroot)")
      .option("--key-storage <where>", "software (default: sealed under the master key) or pkcs11 (generated inside the HSM; needs the server's MESHROOT_PKCS11_* settings)")
      .option("--ca-crl", "its clusters load ca-crl.pem: stage rotations so that no peer breaks (README: Rotation that never breaks a peer)")
      .option("--import-cert <file>", "PEM certificate of an existing root to import")
      .option("--import-key <file>", "its unencrypted PEM private key")
      .option("--import-key-uri <uri>", "or its key already in the HSM: a pkcs11: URI (RFC 7512)"),
  ).action((opts) => trustDomainCreateCommand(opts));
  withClientOptions(
    td
      .command("update")
      .description("change a trust domain's settings")
      .argument("<name>")
      .option("--ca-crl <true|false>", "its clusters load ca-crl.pem: stage rotations (true) or rotate in one step (false)"),
  ).action((name: string, opts) => trustDomainUpdateCommand(name, opts));
  withClientOptions(td.command("list").description("list trust domains with their active root")).action((opts) => trustDomainListCommand(opts));
  withClientOptions(td.command("show").description("a trust domain and its roots").argument("<name>")).action((name: string, opts) => trustDomainShowCommand(name, opts));

  const cluster = program.command("cluster").description("register, inspect and decommission clusters");
  withClientOptions(
    cluster
      .command("create")
      .description("register a cluster in a trust domain")
      .argument("<name>", "cluster name (a DNS label)")
      .requiredOption("--trust-domain <name>", "the trust domain it belongs to")
      .option("--label <key=value>", "a label; repeat for more", label)
      .addOption(keyAlgorithm())
      .option("--validity-days <days>", "intermediate validity in days (server default 365)", integer(1, 3650))
      .option("--renew-before-days <days>", "rotate this many days before expiry (server default: after two thirds of the validity)", integer(0, 3649)),
  ).action((name: string, opts) => clusterCreateCommand(name, opts));
  withClientOptions(cluster.command("list").description("list clusters with status and active intermediate").option("--trust-domain <name>", "only this trust domain")).action((opts) =>
    clusterListCommand(opts),
  );
  withClientOptions(cluster.command("show").description("a cluster with its policy and active intermediate").argument("<name>")).action((name: string, opts) => clusterShowCommand(name, opts));
  withClientOptions(cluster.command("decommission").description("decommission a cluster: revoke its active intermediate (cessationOfOperation); its name is never reused").argument("<name>")).action(
    (name: string, opts) => clusterDecommissionCommand(name, opts),
  );

  withClientOptions(
    program
      .command("issue")
      .description("issue a cluster's first or next intermediate (meshroot generates and escrows the key, or signs --csr)")
      .argument("<cluster>")
      .option("--csr <file>", "PKCS#10 CSR (PEM): external key custody, the key stays with you")
      .option("--idempotency-key <key>", "a retry with the same key returns the same intermediate instead of a new one"),
  ).action((name: string, opts) => issueCommand(name, opts));

  withClientOptions(
    program
      .command("cacerts")
      .description("write the cluster's cacerts Secret manifest to stdout (> secret.yaml, or | kubectl apply --server-side -f -)")
      .argument("<cluster>")
      .option("--crl", "add ca-crl.pem (Istio >= 1.27); issuers without a current CRL are left out and named on stderr")
      .option("--strict-crl", "add ca-crl.pem and fail (crl_incomplete) rather than leave an issuer out")
      .addOption(new Option("--format <type>", "opaque: istiod's cacerts files; tls: kubernetes.io/tls").choices(["opaque", "tls"]).default("opaque"))
      .option("--namespace <ns>", "namespace of the Secret", DEFAULT_NAMESPACE)
      .addOption(new Option("--output <format>", "manifest as YAML or JSON").choices(["yaml", "json"]).default("yaml")),
    false,
  ).action((name: string, opts) => cacertsCommand(name, opts));

  withClientOptions(
    program
      .command("revoke")
      .description("revoke an intermediate by serial; its root's CRL is rebuilt")
      .argument("<serial>", "hex serial, as meshroot prints it or as openssl does (67:0A:…)")
      .addOption(new Option("--reason <reason>", "RFC 5280 reason").choices(REVOCATION_REASON_NAMES).makeOptionMandatory()),
  ).action((serial: string, opts) => revokeCommand(serial, opts));

  withClientOptions(
    program
      .command("inventory")
      .description("every intermediate ever issued, newest first")
      .option("--cluster <name>")
      .option("--trust-domain <name>")
      .addOption(new Option("--status <status>").choices(["active", "superseded", "revoked", "expired"]))
      .option("--expires-before <time>", "a date (2027-03-01) or RFC 3339 time")
      .option("--issued-after <time>", "a date (2027-03-01) or RFC 3339 time"),
  ).action((opts) => inventoryCommand(opts));
}

import { Option, type Command } from "commander";
import { KEY_ALGORITHMS } from "../x509/key-algorithms.js";
import { ApiError, CliError, clientFromOptions, emit, EXIT, readSetting, UsageError, withClientOptions, type ClientOptions } from "./client.js";
import type { Intermediate } from "./intermediates.js";
import { fields, integer, table } from "./output.js";

// `meshroot root-rotation …`: the client side of POST/GET /v1/trust-domains/{name}/root-rotation
// and its steps (README "Root rotation"). Text output says what moved and what to apply next;
// --output json is the server's answer.

type Side = "old" | "new";

interface GateItem {
  met: boolean;
  code?: string;
  detail?: string;
}

interface RootSummary {
  serial: string;
  generation: number;
  status: string;
  subject: string;
  notAfter: string;
  fingerprintSha256: string;
}

/** A rotation as GET /v1/trust-domains/{name}/root-rotation answers it. */
export interface RootRotation {
  id: number;
  trustDomain: string;
  phase: string;
  history: { phase: string; at: string }[];
  startedAt: string;
  finishedAt: string | null;
  lastSwitchAt: string | null;
  workloadCertTtlHours: number;
  revokeOldRoot: boolean;
  oldRoot: RootSummary;
  newRoot: RootSummary;
  gate: { next: string | null; met: boolean; notBefore: string | null; blocking: (GateItem & { cluster: string })[] };
  clusters: {
    name: string;
    custody: string;
    switched: boolean;
    active: { serial: string; generation: number; root: Side } | null;
    prepared: { serial: string; generation: number } | null;
    rootCertPem: Side[];
    lastObservedAt: string | null;
    gate: GateItem;
  }[];
}

interface AdvanceAnswer {
  movedTo: string | null;
  switched: string[];
  forced: (GateItem & { cluster: string })[];
  rotation: RootRotation;
}

const path = (td: string, rest = "") => `v1/trust-domains/${encodeURIComponent(td)}/root-rotation${rest}`;

/** What clusters must do after a step that changed their Secrets. */
const APPLY_HINT = "apply every cluster's refreshed Secret (meshroot cacerts <cluster> --crl), then report what it loaded (meshroot observe)";

export interface StartOptions extends ClientOptions {
  keyAlgorithm?: string;
  validityDays?: number;
  organization?: string;
  importCert?: string;
  importKey?: string;
  workloadCertTtl?: number;
  revokeOldRoot?: boolean;
  output?: string;
}

/**
 * `meshroot root-rotation start <td>`: POST …/root-rotation with a generated new root
 * (--key-algorithm, --validity-days, --organization) or an imported one (--import-cert and
 * --import-key). Throws UsageError when the two forms are mixed or half given.
 */
export async function rootRotationStartCommand(td: string, opts: StartOptions): Promise<void> {
  const generated = [opts.keyAlgorithm && "--key-algorithm", opts.validityDays !== undefined && "--validity-days", opts.organization && "--organization"].filter(Boolean);
  const importing = opts.importCert !== undefined || opts.importKey !== undefined;
  if (importing && (opts.importCert === undefined || opts.importKey === undefined)) throw new UsageError("an imported root needs both --import-cert FILE and --import-key FILE");
  if (importing && generated.length > 0) throw new UsageError(`${generated.join(", ")} describe a generated root; an imported one brings its own (drop them or the --import-* flags)`);
  const body: Record<string, unknown> = {};
  if (importing) body.import = { certificatePem: readSetting(opts.importCert!, "--import-cert"), privateKeyPem: readSetting(opts.importKey!, "--import-key") };
  else if (generated.length > 0) body.root = { keyAlgorithm: opts.keyAlgorithm, validityDays: opts.validityDays, organization: opts.organization };
  if (opts.workloadCertTtl !== undefined) body.workloadCertTtlHours = opts.workloadCertTtl;
  if (opts.revokeOldRoot) body.revokeOldRoot = true;
  const r = await clientFromOptions(opts).post<RootRotation>(path(td), { json: body });
  emit(opts.output, r, (v) => {
    const csr = v.clusters.filter((c) => c.custody === "external" && !c.prepared && !c.switched).map((c) => c.name);
    const next = [
      `next: meshroot root-rotation advance ${v.trustDomain} (trust-both: every cluster's root-cert.pem becomes old + new root)`,
      ...(csr.length > 0 ? [`external key custody: ${csr.join(", ")} must send a CSR first: meshroot root-rotation csr ${v.trustDomain} <cluster> --csr FILE`] : []),
    ];
    return `started a root rotation of ${v.trustDomain}: new root generation ${v.newRoot.generation} (${v.newRoot.serial}), prepared; nothing clusters load has changed\n${describe(v)}\n${next.join("\n")}`;
  });
}

/** `meshroot root-rotation status <td>`: the phase, history, next gate, and every cluster. */
export async function rootRotationStatusCommand(td: string, opts: ClientOptions & { output?: string }): Promise<void> {
  emit(opts.output, await clientFromOptions(opts).get<RootRotation>(path(td)), describe);
}

export interface AdvanceOptions extends ClientOptions {
  force?: boolean;
  reason?: string;
  output?: string;
}

/**
 * `meshroot root-rotation advance <td> [--force --reason TEXT]`: POST …/advance. A 409
 * gate_not_met becomes a CliError (exit 1) listing each blocking cluster and why.
 */
export async function rootRotationAdvanceCommand(td: string, opts: AdvanceOptions): Promise<void> {
  if (opts.force && !opts.reason?.trim()) throw new UsageError("--force needs --reason TEXT (the reason is audited)");
  if (opts.reason !== undefined && !opts.force) throw new UsageError("--reason goes with --force (only a forced step records a reason)");
  let answer: AdvanceAnswer;
  try {
    answer = await clientFromOptions(opts).post<AdvanceAnswer>(path(td, "/advance"), { json: opts.force ? { force: true, reason: opts.reason } : {} });
  } catch (err) {
    throw err instanceof ApiError && err.problem.code === "gate_not_met" ? gateRefusal(td, err) : err;
  }
  emit(opts.output, answer, (a) => {
    const r = a.rotation;
    const lines: string[] = [];
    if (a.movedTo) lines.push(`${r.trustDomain}: moved to ${a.movedTo}${a.forced.length > 0 || opts.force ? " (forced)" : ""}`);
    if (a.switched.length > 0) lines.push(`${r.trustDomain}: switched ${a.switched.join(", ")} to their intermediates under the new root`);
    if (a.forced.length > 0) lines.push("forced past clusters that had not met the gate:", ...a.forced.map(blocker));
    if (a.movedTo !== "done") lines.push(APPLY_HINT);
    return `${lines.join("\n")}\n${describe(r)}`;
  });
}

function gateRefusal(td: string, err: ApiError): CliError {
  const lines = (err.problem.errors ?? []).map((e) => (e.path.startsWith("clusters.") ? `  ${e.path.slice("clusters.".length)}: ${e.message}` : `  (${e.path}) ${e.message}`));
  lines.push(`see meshroot root-rotation status ${td}; --force --reason TEXT overrides the gate (audited)`);
  return new CliError(err.problem.detail ?? err.problem.title, EXIT.refused, lines);
}

/** `meshroot root-rotation switch <td> <cluster>`: in sign-new, one cluster signs under the new root (a canary). */
export async function rootRotationSwitchCommand(td: string, cluster: string, opts: ClientOptions & { output?: string }): Promise<void> {
  const r = await clientFromOptions(opts).post<RootRotation>(path(td, `/clusters/${encodeURIComponent(cluster)}/switch`));
  emit(opts.output, r, (v) => `${v.trustDomain}: switched ${cluster} to its intermediate under the new root\napply its refreshed Secret (meshroot cacerts ${cluster} --crl) and report what it loaded\n${describe(v)}`);
}

/** `meshroot root-rotation rollback <td> [--reason TEXT]`: one phase back. */
export async function rootRotationRollbackCommand(td: string, opts: ClientOptions & { reason?: string; output?: string }): Promise<void> {
  const r = await clientFromOptions(opts).post<RootRotation>(path(td, "/rollback"), { json: opts.reason ? { reason: opts.reason } : {} });
  emit(opts.output, r, (v) => `${v.trustDomain}: rolled back to ${v.phase}\n${v.phase === "rolled-back" ? "the new root is retired; nothing clusters load changes" : APPLY_HINT}\n${describe(v)}`);
}

/**
 * `meshroot root-rotation csr <td> <cluster> --csr FILE`: an external-custody cluster's
 * intermediate under the new root; prints its certificate PEM (--output json: the intermediate).
 */
export async function rootRotationCsrCommand(td: string, cluster: string, opts: ClientOptions & { csr: string; output?: string }): Promise<void> {
  const csrPem = readSetting(opts.csr, "--csr");
  const i = await clientFromOptions(opts).post<Intermediate>(path(td, `/clusters/${encodeURIComponent(cluster)}/csr`), { json: { csrPem } });
  emit(opts.output, i, (x) => x.certificatePem);
  if (opts.output !== "json") process.stderr.write(`meshroot: prepared generation ${i.generation} of ${cluster} under the new root (serial ${i.serial}); it signs once the cluster switches\n`);
}

const blocker = (g: GateItem & { cluster: string }) => `  ${g.cluster}: ${g.code ?? "not met"}${g.detail ? `: ${g.detail}` : ""}`;

/** The phase, history, gate and a table of clusters. */
export function describe(r: RootRotation): string {
  const head = fields([
    ["trust domain", r.trustDomain],
    ["phase", r.phase],
    ["history", r.history.map((h) => `${h.phase} ${h.at.replace(/\.\d+Z$/, "Z")}`).join(", ")],
    ["old root", `generation ${r.oldRoot.generation}, ${r.oldRoot.serial} (${r.oldRoot.status})`],
    ["new root", `generation ${r.newRoot.generation}, ${r.newRoot.serial} (${r.newRoot.status})`],
    ["workload cert ttl", `${r.workloadCertTtlHours} h`],
    ["last switch", r.lastSwitchAt],
    ["finished", r.finishedAt],
    ["gate", r.gate.next === null ? "none (the rotation is over)" : `${r.gate.next}: ${r.gate.met ? "met" : "not met"}`],
    ["not before", r.gate.notBefore],
  ]);
  const clusters = table(
    ["CLUSTER", "CUSTODY", "SWITCHED", "ACTIVE ROOT", "ROOT-CERT.PEM", "LAST OBSERVED", "GATE", "DETAIL"],
    r.clusters.map((c) => [
      c.name,
      c.custody,
      c.switched ? "yes" : "no",
      c.active?.root,
      c.rootCertPem.join("+"),
      c.lastObservedAt,
      c.gate.met ? "met" : (c.gate.code ?? "not met"),
      c.gate.detail,
    ]),
    "no clusters",
  );
  return `${head}\n${clusters}`;
}

const CLIENT = "[client mode]";

/** `meshroot root-rotation start|status|advance|switch|rollback|csr` (client mode). */
export function registerRootRotationCommands(program: Command): void {
  const rr = program.command("root-rotation").description("rotate a trust domain's root in gated phases: prepared, trust-both, sign-new, drop-old, done (README: Root rotation)");
  withClientOptions(
    rr
      .command("start")
      .description(`start a root rotation: a new root and, for every escrowed cluster, an intermediate under it, all prepared ${CLIENT}`)
      .argument("<trust-domain>")
      .addOption(new Option("--key-algorithm <algorithm>", "key algorithm of the generated new root").choices(KEY_ALGORITHMS))
      .option("--validity-days <days>", "its validity in days (server default 3650)", integer(1, 36_500))
      .option("--organization <O>", "its O= (server default: as at trust-domain creation)")
      .option("--import-cert <file>", "PEM certificate of an existing root to rotate to")
      .option("--import-key <file>", "its unencrypted PEM private key")
      .option("--workload-cert-ttl <hours>", "how long workload certificates live (server default 24): drop-old waits this long after the last switch", integer(1, 8760))
      .option("--revoke-old-root", "mark the old root revoked, not only retired, when the rotation is done"),
  ).action((td: string, opts) => rootRotationStartCommand(td, opts));
  withClientOptions(rr.command("status").description(`the phase, when each began, the next gate, and per cluster what it holds and whether it meets the gate ${CLIENT}`).argument("<trust-domain>")).action(
    (td: string, opts) => rootRotationStatusCommand(td, opts),
  );
  withClientOptions(
    rr
      .command("advance")
      .description(`move to the next phase when its gate is met (else exit 1 naming the clusters and why); in sign-new, first switch the clusters still on the old root ${CLIENT}`)
      .argument("<trust-domain>")
      .option("--force", "move on although the gate is not met (audited with the reason and the clusters not converged)")
      .option("--reason <text>", "why the step is forced (required with --force)"),
  ).action((td: string, opts) => rootRotationAdvanceCommand(td, opts));
  withClientOptions(rr.command("switch").description(`in sign-new, switch one cluster to its intermediate under the new root (a canary) ${CLIENT}`).argument("<trust-domain>").argument("<cluster>")).action(
    (td: string, cluster: string, opts) => rootRotationSwitchCommand(td, cluster, opts),
  );
  withClientOptions(rr.command("rollback").description(`step back one phase (sign-new → trust-both → prepared → rolled back); refused from drop-old on ${CLIENT}`).argument("<trust-domain>").option("--reason <text>", "why (audited)")).action(
    (td: string, opts) => rootRotationRollbackCommand(td, opts),
  );
  withClientOptions(
    rr
      .command("csr")
      .description(`an external-custody cluster's intermediate under the new root, from its CSR; prints the certificate PEM ${CLIENT}`)
      .argument("<trust-domain>")
      .argument("<cluster>")
      .requiredOption("--csr <file>", "PKCS#10 CSR (PEM) of the cluster's next key"),
  ).action((td: string, cluster: string, opts) => rootRotationCsrCommand(td, cluster, opts));
}

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { systemContext } from "../core/audit.js";
import type { CaCrlBundle } from "../core/revocation.js";
import { DomainError } from "../errors.js";
import { renderCacertsSecret, type CacertsFiles } from "../istio/cacerts.js";
import type { IntermediateRecord } from "../core/ports.js";
import { parseConfig } from "../config.js";
import { openRuntime } from "../runtime.js";
import { CliError, clientFromOptions, type Client } from "./client.js";
import { modeOf, type DualModeOptions } from "./mode.js";
import { stderrNotice } from "./notice.js";
import { query } from "./output.js";

export interface RotateOptions extends DualModeOptions {
  due: boolean;
  trustDomain?: string;
  dryRun?: boolean;
  out?: string;
  crl?: boolean;
  /** Write every cluster's Secret, not only the rotated ones' (staged rotations need every ca-crl.pem refreshed). */
  all?: boolean;
  namespace: string;
}

/** The report both modes print: POST /v1/rotations/run's answer. */
interface Report {
  dryRun: boolean;
  rotated: { cluster: string }[];
  skipped: unknown[];
  wouldRotate: unknown[];
  failed: unknown[];
  /** Staged rotations waiting for peers (absent from servers older than staging). */
  pending?: { cluster: string; generation: number; prepared: boolean; waitingFor: { cluster: string }[] }[];
}

/**
 * `meshroot rotate --due`: rotates every due cluster, writes each rotated cluster's cacerts Secret
 * to `--out DIR` as `<cluster>.yaml` (mode 0600; with ca-crl.pem under --crl), prints the report
 * as JSON on stdout, and exits 1 when a cluster failed. Against the database directly, or through
 * POST /v1/rotations/run and GET /v1/clusters/{name}/cacerts when a server is named (mode.ts).
 */
export async function rotateCommand(opts: RotateOptions): Promise<void> {
  if (modeOf(opts) === "client") return rotateThroughServer(opts, clientFromOptions(opts));
  const runtime = await openRuntime(parseConfig(), stderrNotice);
  try {
    const { issued, ...report } = await runtime.core.rotation.run({ dryRun: opts.dryRun, trustDomain: opts.trustDomain }, systemContext("cli rotate"));
    // The folder exists after every run, empty when nothing rotated: a loop over it never meets a missing path.
    if (opts.out) mkdirSync(opts.out, { recursive: true, mode: 0o700 });
    // ca-crl.pem as GET /v1/clusters/{name}/cacerts?crl=true builds it, once per trust domain,
    // after every rotation of the run (each new intermediate's CRL included).
    const bundles = new Map<string, Promise<CaCrlBundle>>();
    const manifest = async (record: IntermediateRecord, files: CacertsFiles): Promise<string> => {
      if (opts.crl) {
        if (!bundles.has(record.trustDomain)) bundles.set(record.trustDomain, runtime.core.revocation.caCrlBundle(record.trustDomain));
        const bundle = await bundles.get(record.trustDomain)!;
        files["ca-crl.pem"] = bundle.pem;
        warnMissing(record.cluster, bundle.missing.map((m) => m.serial));
      }
      return renderCacertsSecret(
        files,
        { cluster: record.cluster, trustDomain: record.trustDomain, generation: record.generation, serial: record.serial, notAfter: record.notAfter, rotateAfter: record.rotateAfter },
        { format: "yaml", type: "opaque", namespace: opts.namespace },
      );
    };
    if (opts.out && opts.all) {
      await writeEveryCluster(
        opts,
        async (cluster) => {
          const { record, files } = await runtime.core.issuance.activeFiles(cluster, systemContext("cli rotate"));
          return manifest(record, files);
        },
        async (after) => {
          const page = await runtime.core.clusters.list({ limit: 500, after }, { trustDomain: opts.trustDomain });
          return page.map((v) => ({ name: v.cluster.name, custody: v.active?.custody ?? null, live: !v.cluster.decommissionedAt }));
        },
      );
    } else if (opts.out) {
      for (const { record, files } of issued) writeFileSync(join(opts.out, `${record.cluster}.yaml`), await manifest(record, files), { mode: 0o600 });
    }
    finish(report, opts, "");
  } finally {
    runtime.close();
  }
}

async function rotateThroughServer(opts: RotateOptions, client: Client): Promise<void> {
  const report = await client.post<Report>("v1/rotations/run", { json: { dryRun: opts.dryRun ?? false, ...(opts.trustDomain ? { trustDomain: opts.trustDomain } : {}) } });
  const unwritten: string[] = [];
  if (opts.out) mkdirSync(opts.out, { recursive: true, mode: 0o700 });
  if (opts.out && opts.all) {
    unwritten.push(
      ...(await writeEveryCluster(
        opts,
        async (cluster) => {
          const res = await client.request("GET", `v1/clusters/${encodeURIComponent(cluster)}/cacerts${query({ namespace: opts.namespace, crl: opts.crl })}`);
          const missing = res.headers["meshroot-crl-missing"];
          if (typeof missing === "string" && missing) warnMissing(cluster, missing.split(","));
          return res.text;
        },
        async (after) => {
          const page = await client.get<{ items: { name: string; decommissionedAt?: string | null; activeIntermediate: { custody: string } | null }[]; nextCursor: string | null }>(
            `v1/clusters${query({ limit: "500", cursor: after, trustDomain: opts.trustDomain })}`,
          );
          const items = page.items.map((c) => ({ name: c.name, custody: c.activeIntermediate?.custody ?? null, live: !c.decommissionedAt }));
          return Object.assign(items, { cursor: page.nextCursor });
        },
      )),
    );
  } else if (opts.out && report.rotated.length > 0) {
    for (const { cluster } of report.rotated) {
      try {
        const res = await client.request("GET", `v1/clusters/${encodeURIComponent(cluster)}/cacerts${query({ namespace: opts.namespace, crl: opts.crl })}`);
        const missing = res.headers["meshroot-crl-missing"];
        if (typeof missing === "string" && missing) warnMissing(cluster, missing.split(","));
        writeFileSync(join(opts.out, `${cluster}.yaml`), res.text, { mode: 0o600 });
      } catch (err) {
        // The rotation happened; only its Secret is missing. Say so, carry on with the others, and
        // still print the report (exit 1): it is the record of what was rotated.
        if (!(err instanceof CliError)) throw err;
        stderrNotice("warn", `${cluster} was rotated but its Secret could not be fetched: ${err.message}; fetch it with meshroot cacerts ${cluster}`);
        unwritten.push(cluster);
      }
    }
  }
  finish(report, opts, ` through ${client.config.url.origin}`);
  if (unwritten.length > 0) process.exitCode = 1;
}

type ClusterPage = { name: string; custody: string | null; live: boolean }[] & { cursor?: string | null };

/**
 * `--all`: the Secret of every live cluster with an escrowed active intermediate, to <out>/<cluster>.yaml.
 * Returns the clusters whose Secret could not be fetched (each named on stderr).
 */
async function writeEveryCluster(opts: RotateOptions, manifest: (cluster: string) => Promise<string>, list: (after: string | undefined) => Promise<ClusterPage>): Promise<string[]> {
  const unwritten: string[] = [];
  let skipped = 0;
  for (let after: string | undefined; ; ) {
    const page = await list(after);
    for (const c of page) {
      if (!c.live || c.custody !== "escrowed") {
        skipped++;
        continue;
      }
      try {
        writeFileSync(join(opts.out!, `${c.name}.yaml`), await manifest(c.name), { mode: 0o600 });
      } catch (err) {
        if (!(err instanceof CliError) && !(err instanceof DomainError)) throw err;
        stderrNotice("warn", `${c.name}: its Secret could not be written: ${(err as Error).message}`);
        unwritten.push(c.name);
      }
    }
    const next = page.cursor === undefined ? (page.length === 500 ? page[page.length - 1]!.name : null) : page.cursor;
    if (!next) break;
    after = next;
  }
  if (skipped > 0) stderrNotice("info", `--all: ${skipped} cluster(s) without an escrowed active intermediate (external custody, none issued, decommissioned) have no Secret here`);
  return unwritten;
}

function warnMissing(cluster: string, serials: string[]): void {
  if (serials.length === 0) return;
  stderrNotice("warn", `${cluster}: ca-crl.pem lacks the CRLs of external-custody intermediates ${serials.join(", ")} (no current CRL uploaded)`);
}

function finish(report: Report, opts: RotateOptions, where: string): void {
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  stderrNotice(
    "info",
    `rotation${where}: ${report.dryRun ? `dry run, ${report.wouldRotate.length} would rotate, ` : ""}${report.rotated.length} rotated, ${report.pending?.length ? `${report.pending.length} pending, ` : ""}${report.skipped.length} skipped, ${report.failed.length} failed${opts.out && report.rotated.length ? `; Secrets in ${opts.out}` : ""}`,
  );
  for (const p of report.pending ?? []) {
    const waiting = p.waitingFor.map((w) => w.cluster);
    stderrNotice(
      "info",
      `${p.cluster}: generation ${p.generation} ${p.prepared ? "prepared" : "still prepared"}, waiting for ${waiting.length} peer(s) to load its CRL (${waiting.slice(0, 5).join(", ")}${waiting.length > 5 ? ", …" : ""}): refresh every cluster's Secret with --crl`,
    );
  }
  if (report.failed.length > 0) process.exitCode = 1;
}

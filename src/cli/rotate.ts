import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { systemContext } from "../core/audit.js";
import type { CaCrlBundle } from "../core/revocation.js";
import { renderCacertsSecret } from "../istio/cacerts.js";
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
  namespace: string;
}

/** The report both modes print: POST /v1/rotations/run's answer. */
interface Report {
  dryRun: boolean;
  rotated: { cluster: string }[];
  skipped: unknown[];
  wouldRotate: unknown[];
  failed: unknown[];
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
    if (opts.out && issued.length > 0) {
      // ca-crl.pem as GET /v1/clusters/{name}/cacerts?crl=true builds it, once per trust domain,
      // after every rotation of the run (each new intermediate's CRL included).
      const bundles = new Map<string, Promise<CaCrlBundle>>();
      for (const { record, files } of issued) {
        if (opts.crl) {
          if (!bundles.has(record.trustDomain)) bundles.set(record.trustDomain, runtime.core.revocation.caCrlBundle(record.trustDomain));
          const bundle = await bundles.get(record.trustDomain)!;
          files["ca-crl.pem"] = bundle.pem;
          warnMissing(record.cluster, bundle.missing.map((m) => m.serial));
        }
        const manifest = renderCacertsSecret(
          files,
          { cluster: record.cluster, trustDomain: record.trustDomain, generation: record.generation, serial: record.serial, notAfter: record.notAfter, rotateAfter: record.rotateAfter },
          { format: "yaml", type: "opaque", namespace: opts.namespace },
        );
        writeFileSync(join(opts.out, `${record.cluster}.yaml`), manifest, { mode: 0o600 });
      }
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
  if (opts.out && report.rotated.length > 0) {
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

function warnMissing(cluster: string, serials: string[]): void {
  if (serials.length === 0) return;
  stderrNotice("warn", `${cluster}: ca-crl.pem lacks the CRLs of external-custody intermediates ${serials.join(", ")} (no current CRL uploaded)`);
}

function finish(report: Report, opts: RotateOptions, where: string): void {
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  stderrNotice(
    "info",
    `rotation${where}: ${report.dryRun ? `dry run, ${report.wouldRotate.length} would rotate, ` : ""}${report.rotated.length} rotated, ${report.skipped.length} skipped, ${report.failed.length} failed${opts.out && report.rotated.length ? `; Secrets in ${opts.out}` : ""}`,
  );
  if (report.failed.length > 0) process.exitCode = 1;
}

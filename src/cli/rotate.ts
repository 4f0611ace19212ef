import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { systemContext } from "../core/audit.js";
import { renderCacertsSecret } from "../istio/cacerts.js";
import { parseConfig } from "../config.js";
import { openRuntime } from "../runtime.js";
import { stderrNotice } from "./notice.js";

/**
 * `meshroot rotate --due`: rotates every due cluster against the database directly (for a
 * Kubernetes CronJob or a CI schedule), writes each rotated cluster's Secret to `--out DIR`
 * as `<cluster>.yaml`, prints the report as JSON on stdout, and exits 1 when a cluster failed.
 */
export async function rotateCommand(opts: { due: boolean; trustDomain?: string; dryRun?: boolean; out?: string; namespace: string }): Promise<void> {
  const runtime = await openRuntime(parseConfig(), stderrNotice);
  try {
    const { issued, ...report } = await runtime.core.rotation.run({ dryRun: opts.dryRun, trustDomain: opts.trustDomain }, systemContext("cli rotate"));
    if (opts.out) {
      mkdirSync(opts.out, { recursive: true, mode: 0o700 });
      for (const { record, files } of issued) {
        const manifest = renderCacertsSecret(
          files,
          { cluster: record.cluster, trustDomain: record.trustDomain, generation: record.generation, serial: record.serial, notAfter: record.notAfter, rotateAfter: record.rotateAfter },
          { format: "yaml", type: "opaque", namespace: opts.namespace },
        );
        writeFileSync(join(opts.out, `${record.cluster}.yaml`), manifest, { mode: 0o600 });
      }
    }
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    stderrNotice(
      "info",
      `rotation: ${report.dryRun ? `dry run, ${report.wouldRotate.length} would rotate, ` : ""}${report.rotated.length} rotated, ${report.skipped.length} skipped, ${report.failed.length} failed${opts.out && issued.length ? `; Secrets in ${opts.out}` : ""}`,
    );
    if (report.failed.length > 0) process.exitCode = 1;
  } finally {
    runtime.close();
  }
}

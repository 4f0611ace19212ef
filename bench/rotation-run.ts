import { systemContext } from "../src/core/audit.js";
import { parseConfig } from "../src/config.js";
import { openRuntime } from "../src/runtime.js";

const CTX = systemContext("bench");
const DAY = 86_400_000;

/**
 * Rotating a whole fleet: `clusters` escrowed P-256 clusters, all due, rotated by one rotation
 * run (as POST /v1/rotations/run or the schedule does, durable: every row and audit event
 * committed), then the first ca-crl.pem after it from a freshly opened runtime (cold: no key,
 * issuer or CRL in memory), as a new replica or a restarted server would serve
 * `cacerts?crl=true`.
 */
export async function rotationRunFigures(env: Record<string, string>, clusters: number): Promise<{ runMs: number; rotated: number; firstBundleMs: number; crls: number }> {
  let offset = 0;
  const clock = { now: () => new Date(Date.now() + offset) };
  const runtime = await openRuntime(parseConfig(env), () => {}, clock);
  const { core } = runtime;
  const td = "rotate.example";
  await core.trustDomains.create({ name: td }, CTX);
  for (let c = 0; c < clusters; c++) {
    await core.clusters.register({ name: `r${c}`, trustDomain: td, policy: { validityDays: 30 } }, CTX);
    await core.issuance.issue(`r${c}`, {}, CTX);
  }
  offset = 25 * DAY; // past every rotateAfter (two thirds into 30 days), before notAfter
  const t0 = performance.now();
  const report = await core.rotation.run({ trustDomain: td }, CTX);
  const runMs = performance.now() - t0;
  if (report.failed.length > 0) throw new Error(`rotation run failed for ${report.failed.length} clusters: ${JSON.stringify(report.failed[0])}`);
  runtime.close();

  const cold = await openRuntime(parseConfig(env), () => {}, clock);
  const t1 = performance.now();
  await cold.core.issuance.activeFiles("r0", CTX);
  const bundle = await cold.core.revocation.caCrlBundle(td);
  const firstBundleMs = performance.now() - t1;
  cold.close();
  return { runMs, rotated: report.rotated.length, firstBundleMs, crls: (bundle.pem.match(/BEGIN X509 CRL/g) ?? []).length };
}

import { Cron } from "croner";
import type { FastifyBaseLogger } from "fastify";
import { systemContext } from "../core/audit.js";
import type { Core } from "../core/core.js";

/** How often CRLs are checked for re-signing (each is re-signed at half its validity). */
const CRL_REFRESH_MS = 10 * 60_000;

/**
 * Starts the in-process jobs of `serve`: rotation on MESHROOT_ROTATION_SCHEDULE (when set; a
 * run never overlaps the previous one) and the CRL refresher. Returns a function that stops both.
 */
export function startBackgroundJobs(core: Core, log: FastifyBaseLogger, rotationSchedule: string | undefined): () => void {
  const rotation = rotationSchedule
    ? new Cron(rotationSchedule, { protect: true, timezone: "UTC" }, async () => {
        try {
          const { issued: _issued, ...report } = await core.rotation.run({}, systemContext("scheduler"));
          log.info({ rotation: report }, `scheduled rotation: ${report.rotated.length} rotated, ${report.skipped.length} skipped, ${report.failed.length} failed`);
        } catch (err) {
          log.error({ err }, "scheduled rotation failed");
        }
      })
    : undefined;
  if (rotation) log.info({ schedule: rotationSchedule, next: rotation.nextRun()?.toISOString() }, "rotation schedule active");

  const refresh = async () => {
    try {
      const n = await core.revocation.refreshAll();
      if (n > 0) log.info({ refreshed: n }, "re-signed CRLs");
    } catch (err) {
      log.error({ err }, "CRL refresh failed");
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), CRL_REFRESH_MS);
  timer.unref();

  return () => {
    rotation?.stop();
    clearInterval(timer);
  };
}

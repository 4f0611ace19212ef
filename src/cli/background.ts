import { Cron } from "croner";
import type { FastifyBaseLogger } from "fastify";
import { systemContext } from "../core/audit.js";
import type { Core } from "../core/core.js";

/** How often CRLs are checked for re-signing (each is re-signed at half its validity). */
const CRL_REFRESH_MS = 10 * 60_000;
/** How often the audit head is looked at; a checkpoint is signed every 10 looks or after CHECKPOINT_EVENTS new events. */
const AUDIT_TICK_MS = 60_000;
const CHECKPOINT_EVERY_TICKS = 10;
const CHECKPOINT_EVENTS = 1000;

/**
 * Starts the in-process jobs of `serve`: rotation on MESHROOT_ROTATION_SCHEDULE (when set; a
 * run never overlaps the previous one), the CRL refresher, and the audit anchor (the chain head
 * logged and checkpointed every 10 minutes, after 1000 events, and when stopped). Returns a
 * function that stops them (writing a last checkpoint).
 */
export function startBackgroundJobs(core: Core, log: FastifyBaseLogger, rotationSchedule: string | undefined): () => Promise<void> {
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

  const anchor = auditAnchor(core, log);
  void anchor.checkpoint(true);
  let ticks = 0;
  const auditTimer = setInterval(() => void anchor.tick(++ticks % CHECKPOINT_EVERY_TICKS === 0), AUDIT_TICK_MS);
  auditTimer.unref();

  return () => {
    rotation?.stop();
    clearInterval(timer);
    clearInterval(auditTimer);
    // A last checkpoint and log line of the head: the caller closes the database after this resolves.
    return anchor.checkpoint(true);
  };
}

/**
 * Logs the audit chain head and signs a checkpoint of it (docs/audit.md): the log line is a copy
 * of the head outside the database, for `meshroot audit verify --expect-head`.
 */
export function auditAnchor(core: Pick<Core, "audit">, log: Pick<FastifyBaseLogger, "info" | "error">) {
  let lastSeq = -1;
  /** Checkpoints the head; logs it when it moved, or always with `log`. */
  const checkpoint = async (always = false) => {
    try {
      const made = await core.audit.checkpoint();
      // The head just checkpointed, not a later one a concurrent write made.
      const head = made ?? (await core.audit.head());
      if (always || head.seq !== lastSeq || made) {
        log.info({ auditHead: { seq: head.seq, hash: head.hash }, checkpointed: made !== undefined }, `audit head ${head.seq}:${head.hash}`);
      }
      lastSeq = head.seq;
    } catch (err) {
      log.error({ err }, "audit checkpoint failed");
    }
  };
  return {
    checkpoint,
    /** Checkpoints when `due` or when enough events were appended since the last one. */
    async tick(due: boolean) {
      try {
        if (!due && (await core.audit.head()).seq - lastSeq < CHECKPOINT_EVENTS) return;
      } catch (err) {
        log.error({ err }, "reading the audit head failed");
        return;
      }
      await checkpoint(due);
    },
  };
}

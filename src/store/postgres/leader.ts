import pg from "pg";
import { clientConfig, LEADER_LOCK, type PgOptions } from "./pool.js";

/** How often a follower tries to take the lead, and the leader checks that its connection (and so its lock) is alive. */
export const LEADER_CHECK_MS = 2000;

export interface LeaderLog {
  info(msg: string): void;
  error(obj: unknown, msg: string): void;
}

/**
 * Runs `start` only while this process holds the leader lock: a session-level
 * pg_try_advisory_lock on a dedicated connection, tried every LEADER_CHECK_MS. PostgreSQL releases
 * the lock when that session ends (a killed or cut-off replica), and another replica takes it at
 * its next try. A leader whose connection fails stops its jobs and tries again. Returns a
 * function that stops the jobs (awaiting theirs) and gives the lock up.
 */
export function runAsLeader(url: string, options: PgOptions, start: () => () => Promise<void>, log: LeaderLog): () => Promise<void> {
  let client: pg.Client | undefined;
  let stopJobs: (() => Promise<void>) | undefined;
  let stopped = false;
  let busy = false;

  const resign = async (why: string) => {
    const stop = stopJobs;
    stopJobs = undefined;
    const c = client;
    client = undefined;
    if (stop) {
      log.info(`background jobs stopped on this replica: ${why}`);
      await stop().catch((err: unknown) => log.error({ err }, "stopping the background jobs failed"));
    }
    await c?.end().catch(() => {});
  };

  const check = async () => {
    if (busy || stopped) return;
    busy = true;
    try {
      if (!client) {
        const c = new pg.Client(clientConfig(url, options));
        c.on("error", () => void resign("lost the database connection that holds the leader lock"));
        await c.connect();
        client = c;
      }
      if (stopJobs) {
        await client.query("SELECT 1");
        return;
      }
      const { rows } = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${LEADER_LOCK}) AS ok`);
      if (rows[0]?.ok && !stopped) {
        log.info("this replica leads the background jobs (rotation schedule, CRL refresher, audit checkpoints)");
        stopJobs = start();
      }
    } catch (err) {
      await resign(`database unreachable (${(err as Error).message})`);
    } finally {
      busy = false;
    }
  };
  void check();
  const timer = setInterval(() => void check(), LEADER_CHECK_MS);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    while (busy) await new Promise((r) => setTimeout(r, 10));
    const stop = stopJobs;
    stopJobs = undefined;
    await stop?.();
    // Ending the session releases the lock.
    await client?.end().catch(() => {});
    client = undefined;
  };
}

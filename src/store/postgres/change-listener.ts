import pg from "pg";
import { CHANGE_CHANNEL } from "./audit-store.js";
import { clientConfig, type PgOptions } from "./pool.js";

/**
 * Listens for the notification every audited write sends on commit (its trust domain as payload)
 * and calls `changed` with it, so that a replica drops what it cached of another replica's
 * writes at once rather than when the cache's TTL runs out. Reconnects every second while the
 * database is away. Returns a function that stops listening.
 */
export function listenForChanges(url: string, options: PgOptions, changed: (trustDomain: string) => void): () => Promise<void> {
  let client: pg.Client | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const retry = () => {
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, 1000);
    timer.unref();
  };
  const connect = async () => {
    const c = new pg.Client(clientConfig(url, options));
    c.on("error", () => {
      if (client === c) client = undefined;
      void c.end().catch(() => {});
      retry();
    });
    c.on("notification", (n) => {
      if (n.channel === CHANGE_CHANNEL && n.payload) changed(n.payload);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANGE_CHANNEL}`);
      if (stopped) return void (await c.end());
      client = c;
    } catch {
      await c.end().catch(() => {});
      retry();
    }
  };
  void connect();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await client?.end().catch(() => {});
  };
}

import type { Clock } from "../clock.js";

/**
 * A small cache of computed values that may be up to `ttlMs` old, for hot public reads (trust
 * bundle, CRL). Writers in this process call `clear` so their own changes show at once; the TTL
 * bounds what another process's change can take to appear.
 */
export function ttlCache<V>(clock: Clock, ttlMs: number) {
  const entries = new Map<string, { at: number; value: Promise<V> }>();
  return {
    get(key: string, compute: () => Promise<V>): Promise<V> {
      const now = clock.now().getTime();
      const hit = entries.get(key);
      if (hit && now - hit.at < ttlMs && now >= hit.at) return hit.value;
      const value = compute();
      entries.set(key, { at: now, value });
      value.catch(() => entries.delete(key));
      return value;
    },
    clear(key?: string): void {
      if (key === undefined) entries.clear();
      else entries.delete(key);
    },
  };
}

import type { Clock } from "../clock.js";

/**
 * A small cache of computed values that may be up to `ttlMs` old, for hot public reads (trust
 * bundle, CRL). Writers in this process call `clear` so their own changes show at once; the TTL
 * bounds what another process's change can take to appear.
 */
export function ttlCache<V>(clock: Clock, ttlMs: number) {
  type Entry = { at: number; value: Promise<V>; settled?: V };
  const entries = new Map<string, Entry>();
  const fresh = (e: Entry | undefined, now: number): e is Entry => e !== undefined && now - e.at < ttlMs && now >= e.at;
  return {
    get(key: string, compute: () => Promise<V>): Promise<V> {
      const now = clock.now().getTime();
      const hit = entries.get(key);
      if (fresh(hit, now)) return hit.value;
      const entry: Entry = { at: now, value: compute() };
      entries.set(key, entry);
      entry.value.then(
        (v) => (entry.settled = v),
        () => entries.get(key) === entry && entries.delete(key),
      );
      return entry.value;
    },
    /** The value for `key` if it is computed and fresh, without waiting: for the hot read paths. */
    peek(key: string): V | undefined {
      const hit = entries.get(key);
      return fresh(hit, clock.now().getTime()) ? hit.settled : undefined;
    },
    clear(key?: string): void {
      if (key === undefined) entries.clear();
      else entries.delete(key);
    },
  };
}

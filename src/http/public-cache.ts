import type { Clock } from "../clock.js";
import type { Observer } from "../core/ports.js";
import { ttlCache } from "./ttl-cache.js";

/** How stale a public read (bundle, CRL) may be when another process changed it. */
export const PUBLIC_CACHE_MS = 1000;

/**
 * The public routes' cache of trust bundles and root CRLs (the hottest reads, unauthenticated):
 * up to `ttlMs` old. The core's change events drop an entry as soon as a write in this process
 * commits; the TTL bounds how long another process's change takes to show. An HTTP concern: the
 * core computes, it does not cache.
 */
export function publicCache(clock: Clock, ttlMs = PUBLIC_CACHE_MS) {
  const bundles = ttlCache<string>(clock, ttlMs);
  const crls = ttlCache<Uint8Array>(clock, ttlMs);
  const observer: Pick<Observer, "bundleChanged" | "crlChanged"> = {
    bundleChanged: (trustDomain) => bundles.clear(trustDomain),
    crlChanged: (trustDomain) => crls.clear(trustDomain),
  };
  return { bundles, crls, observer };
}

export type PublicCache = ReturnType<typeof publicCache>;

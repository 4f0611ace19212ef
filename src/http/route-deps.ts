import type { Clock } from "../clock.js";
import type { Core } from "../core/core.js";
import type { PublicCache } from "./public-cache.js";

/** What every route plugin receives. */
export interface RouteDeps {
  core: Core;
  clock: Clock;
  publicCache: PublicCache;
}

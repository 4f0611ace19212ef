import type { Core } from "../core/core.js";
import type { Clock } from "../clock.js";

/** What every route plugin receives. */
export interface RouteDeps {
  core: Core;
  clock: Clock;
}

import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";
import { CHROMIUM, chromiumLaunchOptions } from "../../bench/ui-overview.js";

/**
 * Browser tests drive Debian's chromium (`apt-get install chromium`; .ci/run installs it). Without
 * it they are skipped locally with a note, but in CI (CI=true) they fail: a green run must have
 * exercised the dashboard.
 */
export const chromiumMissing = !existsSync(CHROMIUM);
export const skipBrowser = chromiumMissing && process.env.CI !== "true";
if (skipBrowser) console.warn(`[browser tests] skipped: no chromium at ${CHROMIUM} (apt-get install chromium, or set MESHROOT_CHROMIUM)`);

/** Launches headless chromium; throws (failing the suite) when it is missing. */
export async function launchChromium(): Promise<Browser> {
  if (chromiumMissing) throw new Error(`chromium is required in CI but missing at ${CHROMIUM}: .ci/run installs it with apt-get`);
  return chromium.launch(chromiumLaunchOptions());
}

import { existsSync } from "node:fs";
import { chromium } from "playwright-core";

/** Debian's chromium (never a downloaded browser); MESHROOT_CHROMIUM overrides the path. */
export const CHROMIUM = process.env.MESHROOT_CHROMIUM ?? "/usr/bin/chromium";

/** Launch options for headless chromium; as root it needs --no-sandbox. */
export function chromiumLaunchOptions() {
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  return { executablePath: CHROMIUM, headless: true, args: root ? ["--no-sandbox", "--disable-dev-shm-usage"] : ["--disable-dev-shm-usage"] };
}

/**
 * Time from navigating to /ui in a fresh headless chromium (empty cache) through signing in with
 * `token` to the fleet overview table listing every cluster (the table marks itself complete once
 * every page of GET /v1/fleet is rendered). Throws when chromium is missing or the page fails.
 */
export async function uiOverviewFigure(baseUrl: string, token: string): Promise<{ ms: number; clusters: number }> {
  if (!existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM} (apt-get install chromium)`);
  const browser = await chromium.launch(chromiumLaunchOptions());
  try {
    const page = await (await browser.newContext()).newPage();
    const started = performance.now();
    await page.goto(new URL("/ui/", baseUrl).toString());
    await page.fill("#token", token);
    await page.click("button[type=submit]");
    const table = await page.waitForSelector("#fleet-table[data-complete=true]", { timeout: 60_000 });
    const ms = performance.now() - started;
    const total = Number(await table.getAttribute("data-total"));
    const rows = await page.locator("#fleet-table tbody tr").count();
    if (rows !== total) throw new Error(`the overview shows ${rows} of ${total} clusters`);
    return { ms: Math.round(ms), clusters: rows };
  } finally {
    await browser.close();
  }
}

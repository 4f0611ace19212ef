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
 * The dashboard in a fresh headless chromium (empty cache): `signInMs` from navigating to /ui
 * through typing the token and signing in until the fleet overview lists every cluster; then
 * `ms`, the overview page loading again while signed in (the token in this tab's
 * sessionStorage): HTML, assets, GET /v1/fleet and 500 rows rendered, as a user opening or
 * refreshing the dashboard sees it. The table marks itself complete once every page of
 * GET /v1/fleet is rendered. Throws when chromium is missing or the page fails.
 */
export async function uiOverviewFigure(baseUrl: string, token: string): Promise<{ ms: number; signInMs: number; clusters: number }> {
  if (!existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM} (apt-get install chromium)`);
  const browser = await chromium.launch(chromiumLaunchOptions());
  try {
    const page = await (await browser.newContext()).newPage();
    const complete = () => page.waitForSelector("#fleet-table[data-complete=true]", { timeout: 60_000 });
    const started = performance.now();
    await page.goto(new URL("/ui/", baseUrl).toString());
    await page.fill("#token", token);
    await page.click("button[type=submit]");
    await complete();
    const signInMs = performance.now() - started;
    const reloaded = performance.now();
    await page.reload();
    const table = await complete();
    const ms = performance.now() - reloaded;
    const total = Number(await table.getAttribute("data-total"));
    const rows = await page.locator("#fleet-table tbody tr").count();
    if (rows !== total) throw new Error(`the overview shows ${rows} of ${total} clusters`);
    return { ms: Math.round(ms), signInMs: Math.round(signInMs), clusters: rows };
  } finally {
    await browser.close();
  }
}

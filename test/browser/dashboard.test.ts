import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";
import { client, startServer, type Server } from "../e2e/server.js";
import { launchChromium, skipBrowser } from "./chromium.js";

const SHOTS = fileURLToPath(new URL("../../test-results/screenshots/", import.meta.url));
const TD = "cluster.local";

let server: Server;
let admin: string;
let provisioner: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const consoleLines: string[] = [];

/** A real `meshroot serve` with one trust domain and two clusters: east runs what meshroot issued, west loads a foreign root bundle. */
async function seed(): Promise<void> {
  const data = join(tempDir(), "data");
  server = await startServer({ MESHROOT_DATA_DIR: data });
  admin = readFileSync(join(data, "admin.token"), "utf8").trim();
  const api = client(server.url, admin);
  const ok = async (method: string, path: string, body?: unknown) => {
    const res = await api(method, path, body);
    expect(res.status, `${method} ${path}: ${res.text}`).toBeLessThan(300);
    return res;
  };
  await ok("POST", "/v1/trust-domains", { name: TD });
  provisioner = (await ok("POST", "/v1/tokens", { name: "ci", role: "provisioner", trustDomains: [TD] })).json().token;
  await ok("POST", "/v1/trust-domains", { name: "other.example" });
  const bundle = (await ok("GET", `/v1/trust-domains/${TD}/bundle`)).text;
  const foreign = (await ok("GET", "/v1/trust-domains/other.example/bundle")).text;
  const issued: Record<string, string> = {};
  for (const name of ["east", "west"]) {
    await ok("POST", "/v1/clusters", { name, trustDomain: TD, labels: { region: name } });
    issued[name] = (await ok("POST", `/v1/clusters/${name}/intermediates`, {})).json().cacerts["ca-cert.pem"];
  }
  // What istiod reads from the Secret (test side only: the dashboard never asks for cacerts).
  const secret = (await ok("GET", "/v1/clusters/east/cacerts?format=json&crl=true")).json() as { data: Record<string, string> };
  const crlPem = Buffer.from(secret.data["ca-crl.pem"]!, "base64").toString("utf8");
  const east = await ok("PUT", "/v1/clusters/east/observation", { rootCertPem: bundle, caCertPem: issued.east, crlPem, istioVersion: "1.27.2", multiRoot: true });
  expect(east.json().trust.state).toBe("converged");
  const west = await ok("PUT", "/v1/clusters/west/observation", { rootCertPem: foreign, caCertPem: issued.west, istioVersion: "1.26.4" });
  expect(west.json().trust.state).toBe("drift");
  // A root rotation under way in the other trust domain (no cluster there: nothing else changes).
  await ok("POST", "/v1/trust-domains/other.example/root-rotation", {});
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

const cspViolations = () => consoleLines.filter((l) => /content security policy|refused to (load|apply|execute)/i.test(l));

describe.skipIf(skipBrowser)("the dashboard at /ui, in headless chromium", () => {
  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    [browser] = await Promise.all([launchChromium(), seed()]);
    context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
    // The page reports CSP violations as events too; collect them beside the console.
    await context.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (e) => console.error(`Content Security Policy violation: ${e.violatedDirective} ${e.blockedURI}`));
    });
    page = await context.newPage();
    page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("serves the shell without a token, under a strict CSP", async () => {
    const res = await page.goto(`${server.url}/ui/`);
    expect(res?.status()).toBe(200);
    const h = res!.headers();
    for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'", "connect-src 'self'"]) {
      expect(h["content-security-policy"]).toContain(directive);
    }
    expect(h).toMatchObject({ "x-content-type-options": "nosniff", "referrer-policy": "no-referrer", "cache-control": "no-cache" });
    const html = await res!.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>|<style|style=/i);
    const asset = /src="(\/ui\/app-[A-Z0-9]+\.js)"/.exec(html)![1]!;
    const js = await fetch(server.url + asset);
    expect(js.headers.get("cache-control")).toContain("immutable");
    expect(js.headers.get("content-security-policy")).toContain("default-src 'self'");
    await page.waitForSelector("#token");
    await shot("1-sign-in");
  });

  it("signs in with a pasted token kept in sessionStorage only, and shows both clusters in their trust states, worst first", async () => {
    await page.fill("#token", admin);
    await page.click("button[type=submit]");
    await page.waitForSelector("#fleet-table[data-complete=true]");
    expect(await page.locator("#fleet-table tbody tr").evaluateAll((rows) => rows.map((r) => [r.getAttribute("data-cluster"), r.getAttribute("data-trust")]))).toEqual([
      ["west", "drift"],
      ["east", "converged"],
    ]);
    const west = page.locator("tr[data-cluster=west]");
    expect(await west.textContent()).toContain("bundle_mismatch");
    expect(await page.locator("button[data-count=drift] .n").textContent()).toBe("1");
    expect(await page.locator("button[data-count=converged] .n").textContent()).toBe("1");
    expect(await page.evaluate(() => ({ session: sessionStorage.getItem("meshroot.token"), local: localStorage.length, cookie: document.cookie }))).toEqual({
      session: admin,
      local: 0,
      cookie: "",
    });
    expect(await context.cookies()).toEqual([]);
    expect(page.url()).not.toContain(admin);
    await shot("2-fleet-overview");

    await page.selectOption("select[name=state]", "converged");
    expect(await page.locator("#fleet-table tbody tr").count()).toBe(1);
    await page.selectOption("select[name=state]", "");
    await page.fill("input[name=q]", "region=west");
    expect(await page.locator("#fleet-table tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-cluster")))).toEqual(["west"]);
    await page.fill("input[name=q]", "");
  });

  it("opens the drifted cluster and shows why: the reason, desired vs observed, generations and audit events", async () => {
    await page.click("tr[data-cluster=west] a[href='#/clusters/west']");
    await page.waitForSelector("#trust [data-reason=bundle_mismatch]");
    expect(await page.locator("#trust").textContent()).toMatch(/bundle_mismatch.*bundle/);
    await page.waitForSelector("#generations table");
    expect(await page.locator("#generations").textContent()).toContain("gen 1");
    await page.waitForSelector("#audit table");
    expect(await page.locator("#audit").textContent()).toContain("intermediate.issue");
    await page.waitForSelector("#diff h3, #diff .note");
    await shot("3-cluster-drift");
    await page.goto(`${server.url}/ui/#/clusters/east`);
    await page.waitForSelector("#diff table.crl");
    expect(await page.locator("#diff").textContent()).not.toContain("missing");
    await shot("3b-cluster-converged");
  });

  it("draws the timeline, the trust domain and the audit page with chain verification", async () => {
    await page.click("a[href='#/timeline']");
    await page.waitForSelector("figure.timeline svg g[data-row=west]");
    expect(await page.locator("table.crl").textContent()).toContain(TD);
    await shot("4-timeline");
    await page.goto(`${server.url}/ui/#/trust-domains/${TD}`);
    await page.waitForSelector("#crl .badge");
    await page.locator("#root-rotation", { hasText: "never rotated its root" }).waitFor();
    expect(await page.locator("p.lede").textContent()).toContain("Rotations take one step");
    expect(await page.locator("#roots table").textContent()).toContain("sealed in the database");
    await shot("5-trust-domain");
    await page.goto(`${server.url}/ui/#/trust-domains/other.example`);
    await page.waitForSelector("#root-rotation ol.phases li.current");
    expect(await page.locator("#root-rotation li.current").textContent()).toContain("prepared");
    await shot("5b-trust-domain-root-rotation");
    await page.click("a[href='#/audit']");
    await page.waitForSelector("table.audit");
    await page.click("#verify-chain");
    await page.waitForSelector(".verdict");
    expect(await page.locator(".verdict").textContent()).toContain("The audit chain holds");
    await shot("6-audit");
  });

  it("signs out (forgetting the token), and an invalid token gets a clear message", async () => {
    await page.click("button.signout");
    await page.waitForSelector("#token");
    expect(await page.evaluate(() => sessionStorage.getItem("meshroot.token"))).toBeNull();
    await page.fill("#token", "mrt_not-a-real-token");
    await page.click("button[type=submit]");
    const error = await page.waitForSelector("#signin-error");
    expect(await error.textContent()).toMatch(/^That token was not accepted: .+/);
    expect(await page.evaluate(() => sessionStorage.getItem("meshroot.token"))).toBeNull();
    await shot("7-invalid-token");
  });

  it("a provisioner token sees the fleet, and the audit page says why it may not read the audit trail", async () => {
    await page.fill("#token", provisioner);
    await page.click("button[type=submit]");
    // Signed in again, the dashboard opens the page it was on: the audit page.
    const refused = await page.waitForSelector(".error");
    expect(await refused.textContent()).toMatch(/403 forbidden.*needs the auditor role/);
    await page.click("a[href='#/']");
    await page.waitForSelector("#fleet-table[data-complete=true]");
    await page.click("a[href='#/audit']");
    await page.waitForSelector(".error");
    await page.click("#verify-chain");
    await page.waitForSelector("#verify .error");
    await shot("8-provisioner-audit");
    await page.click("button.signout");
  });

  it("never violated the Content-Security-Policy and threw no script error", () => {
    expect(cspViolations()).toEqual([]);
    expect(consoleLines.filter((l) => l.startsWith("pageerror"))).toEqual([]);
  });
});

import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { packageRoot } from "../package-root.js";
import { sendProblem } from "./error-handler.js";

/**
 * The dashboard's Content-Security-Policy: everything from meshroot itself, nothing inline, no
 * framing, no forms posting anywhere. The bundle (scripts/bundle-ui.ts) writes no inline script
 * or style, so nothing here needs a nonce or a hash.
 */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
};
/** Asset names carry a content hash (app-3F2A9C1D.js): they never change, so they are cached for good. */
const HASHED = /-[A-Z0-9]{8}\.[a-z]+$/;
const ASSET_NAME = /^[A-Za-z0-9._-]{1,128}$/;

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  immutable: boolean;
}

/** Reads every file of the built dashboard (a handful, a few hundred KiB) once; undefined when it was not built. */
function loadAssets(dir: string): Map<string, Asset> | undefined {
  if (!existsSync(join(dir, "index.html"))) return undefined;
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (!type || !ASSET_NAME.test(name)) continue;
    const body = readFileSync(join(dir, name));
    assets.set(name, { body, type, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`, immutable: HASHED.test(name) });
  }
  return assets;
}

/**
 * Serves the web dashboard built into dist/ui (`npm run build`) at /ui: the static shell is
 * public, every API call it makes carries the user's token. Each response, errors included,
 * carries the CSP and the other browser-hardening headers. The files are read once, on the
 * first request (a rebuilt dashboard needs a restart). `dir` defaults to
 * <package root>/dist/ui, which holds from the sources and from the bundled dist/meshroot.js.
 */
export const uiRoutes: FastifyPluginAsync<{ dir?: string }> = async (app, opts) => {
  const dir = opts.dir ?? join(packageRoot(), "dist", "ui");
  // Read on the first /ui request, not when the app is built (tests build hundreds of apps).
  let assets: Map<string, Asset> | undefined;

  app.addHook("onSend", async (_request, reply, payload) => {
    reply.header("content-security-policy", UI_CSP);
    reply.header("x-content-type-options", "nosniff");
    reply.header("referrer-policy", "no-referrer");
    reply.header("x-frame-options", "DENY");
    reply.header("cross-origin-opener-policy", "same-origin");
    if (!reply.hasHeader("cache-control")) reply.header("cache-control", "no-store");
    return payload;
  });

  const send = (request: FastifyRequest, reply: FastifyReply, name: string) => {
    assets ??= loadAssets(dir);
    if (!assets) return sendProblem(request, reply, 503, "ui_not_built", "the dashboard is not built: run npm run build");
    const asset = assets.get(name);
    if (!asset) return sendProblem(request, reply, 404, "route_not_found", `no dashboard file ${name}`);
    reply.header("cache-control", asset.immutable ? "public, max-age=31536000, immutable" : "no-cache");
    reply.header("etag", asset.etag);
    if (request.headers["if-none-match"] === asset.etag) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  };

  const route = { config: { auth: "public" as const }, schema: { hide: true } };
  app.get("/ui", route, async (request, reply) => send(request, reply, "index.html"));
  app.get("/ui/", route, async (request, reply) => send(request, reply, "index.html"));
  app.get<{ Params: { "*": string } }>("/ui/*", route, async (request, reply) => send(request, reply, request.params["*"]));
};

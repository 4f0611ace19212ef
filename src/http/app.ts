import { randomUUID } from "node:crypto";
import type { ServerOptions as HttpsServerOptions } from "node:https";
import type { Socket } from "node:net";
import fastifySwaggerUi from "@fastify/swagger-ui";
import Fastify, { type FastifyServerOptions } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Core } from "../core/core.js";
import type { Clock } from "../clock.js";
import { VERSION } from "../version.js";
import { installAuth } from "./auth.js";
import { authFailureLimiter } from "./auth-rate-limit.js";
import { installErrorHandling, sendProblem } from "./error-handler.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { publicCache, type PublicCache } from "./public-cache.js";
import { docsPageOptions, registerOpenApi, serializerCompiler, validatorCompiler } from "./openapi.js";
import { auditRoutes } from "./routes/audit.js";
import { clusterRoutes } from "./routes/clusters.js";
import { fleetRoutes } from "./routes/fleet.js";
import { healthRoutes } from "./routes/health.js";
import { intermediateRoutes } from "./routes/intermediates.js";
import { certificateRoutes } from "./routes/certificates.js";
import { rootRotationRoutes } from "./routes/root-rotation.js";
import { rotationRoutes } from "./routes/rotations.js";
import { tokenRoutes } from "./routes/tokens.js";
import { trustDomainRoutes } from "./routes/trust-domains.js";
import { uiRoutes } from "./ui.js";
import { jsonBodyParser } from "./json-body.js";

export interface AppDeps {
  core: Core;
  clock: Clock;
  readiness: () => { ready: boolean; checks: Record<string, boolean> };
  /** Fastify logger options; false (the default) for tests. */
  logger?: FastifyServerOptions["logger"];
  /** Failed authentications allowed per address and window before 429 (default 20 per minute). */
  authFailures?: { limit: number; windowMs: number } | undefined;
  /** Prometheus metrics wired to the core's observer (a fresh, fleet-less one when absent). */
  metrics?: Metrics | undefined;
  /**
   * The public routes' cache, fed by the core's change events (see public-cache.ts); without it
   * the bundle and CRL are computed on every request.
   */
  publicCache?: PublicCache | undefined;
  /** TLS server options; the API is plain HTTP without them. */
  https?: HttpsServerOptions | undefined;
  /** fastify `trustProxy` (MESHROOT_TRUST_PROXY): whose X-Forwarded-For gives the client address. */
  trustProxy?: boolean | number | string[] | undefined;
  /** When true, /metrics needs a valid token (MESHROOT_METRICS_TOKEN_REQUIRED). */
  metricsTokenRequired?: boolean | undefined;
}

/** Largest request body accepted (PEM imports and CSRs are a few KiB). */
export const BODY_LIMIT = 64 * 1024;
/** Simultaneous connections accepted; more are refused by the server. */
export const MAX_CONNECTIONS = 1024;
/**
 * Simultaneous connections accepted from one address (off behind a trusted proxy, where every
 * connection comes from the proxy), so one client cannot take every slot.
 */
export const MAX_CONNECTIONS_PER_ADDRESS = 128;
/** Time a client has to send a request's headers; Node checks it every CONNECTIONS_CHECK_MS. */
export const HEADERS_TIMEOUT_MS = 10_000;
const CONNECTIONS_CHECK_MS = 1_000;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Log fields that must never be written: credentials and key material. */
export const LOG_REDACT = ["req.headers.authorization", "req.headers.cookie", "res.headers['set-cookie']"];

/**
 * Every route validates and serialises with zod (setValidatorCompiler and setSerializerCompiler
 * below): naming the compilers in the options too keeps fastify from loading and setting up ajv
 * and fast-json-stringify at start, which it would never use. fastify types these factories for
 * ajv's compilers, hence the cast.
 */
const ZOD_COMPILERS = { buildValidator: () => validatorCompiler, buildSerializer: () => serializerCompiler } as unknown as NonNullable<
  NonNullable<FastifyServerOptions["schemaController"]>["compilersFactory"]
>;

/** Builds the meshroot API without listening; the CLI's `serve` is the only place that listens. */
export async function buildApp(deps: AppDeps) {
  // Node checks headersTimeout/requestTimeout only every connectionsCheckingInterval (30 s by
  // default): half-open requests held their slots for 30-40 s instead of the documented 10 s.
  const timeouts = { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: 30_000, connectionsCheckingInterval: CONNECTIONS_CHECK_MS };
  const app = Fastify({
    logger: deps.logger ?? false,
    http: timeouts,
    trustProxy: (deps.trustProxy ?? false) as boolean,
    frameworkErrors: (err, request, reply) => {
      const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
      sendProblem(request, reply, status, FRAMEWORK_CODES[err.code] ?? "bad_request", err.message);
    },
    clientErrorHandler: clientError,
    bodyLimit: BODY_LIMIT,
    requestTimeout: 30_000,
    connectionTimeout: 10_000,
    keepAliveTimeout: 10_000,
    routerOptions: { maxParamLength: 256 },
    return503OnClosing: true,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    },
    schemaController: { compilersFactory: ZOD_COMPILERS },
    ...(deps.https ? { https: { ...deps.https, ...timeouts } } : {}),
  }).withTypeProvider<ZodTypeProvider>();

  // Bounds on what one client can hold open: connections, and time to send the headers.
  app.server.maxConnections = MAX_CONNECTIONS;
  app.server.headersTimeout = HEADERS_TIMEOUT_MS;
  if (!deps.trustProxy) capConnectionsPerAddress(app.server, MAX_CONNECTIONS_PER_ADDRESS);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.removeContentTypeParser("text/plain");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, jsonBodyParser);
  app.addHook("onRequest", (request, reply, done) => {
    reply.header("x-request-id", request.id);
    done();
  });
  const metrics = deps.metrics ?? createMetrics();
  metrics.instrument(app);
  installErrorHandling(app);
  const failures = deps.authFailures ?? { limit: 20, windowMs: 60_000 };
  const limiter = authFailureLimiter({ ...failures, now: () => deps.clock.now().getTime() });
  const trustDomainOf = async (cluster: string) => (await deps.core.clusters.get(cluster).catch(() => undefined))?.cluster.trustDomain;
  installAuth(app, deps.core.tokens, deps.core.audit, limiter, trustDomainOf);

  await registerOpenApi(app, VERSION);
  await app.register(fastifySwaggerUi, docsPageOptions);
  app.get("/openapi.json", { config: { auth: "public" }, schema: { hide: true } }, async () => app.swagger());

  const routeDeps = { core: deps.core, clock: deps.clock, publicCache: deps.publicCache ?? publicCache(deps.clock, 0) };
  await app.register(healthRoutes, { readiness: deps.readiness, metrics, metricsAuth: deps.metricsTokenRequired ? "any" : "public" });
  await app.register(trustDomainRoutes, routeDeps);
  await app.register(clusterRoutes, routeDeps);
  await app.register(intermediateRoutes, routeDeps);
  await app.register(certificateRoutes, routeDeps);
  await app.register(rotationRoutes, routeDeps);
  await app.register(tokenRoutes, routeDeps);
  await app.register(auditRoutes, routeDeps);
  await app.register(fleetRoutes, routeDeps);
  await app.register(rootRotationRoutes, routeDeps);
  await app.register(uiRoutes);
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;

/** Problem codes for fastify's routing errors (frameworkErrors), which are otherwise plain JSON. */
const FRAMEWORK_CODES: Record<string, string> = {
  FST_ERR_BAD_URL: "bad_url",
  FST_ERR_MAX_PARAM_LENGTH: "uri_too_long",
  FST_ERR_ASYNC_CONSTRAINT: "bad_request",
};

/** Node's parser errors (400, 408, 431) as problem+json before the socket is closed. */
function clientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === "ECONNRESET" || socket.destroyed) return;
  const [status, code, title, detail] =
    err.code === "ERR_HTTP_REQUEST_TIMEOUT" || err.code === "ERR_HTTP_HEADERS_TIMEOUT"
      ? [408, "request_timeout", "Request Timeout", "the request did not arrive in time"]
      : err.code === "HPE_HEADER_OVERFLOW"
        ? [431, "headers_too_large", "Request Header Fields Too Large", "the request headers are too large"]
        : err.code === "HPE_URI_TOO_LONG"
          ? [414, "uri_too_long", "URI Too Long", "the request target is too long"]
          : [400, "bad_request", "Bad Request", "the request could not be parsed as HTTP/1.1"];
  const body = JSON.stringify({ type: `urn:meshroot:problem:${code}`, title, status, detail, code });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Destroys a new connection when its address already holds `max` open ones. */
function capConnectionsPerAddress(server: { on(event: "connection", listener: (socket: Socket) => void): unknown }, max: number): void {
  const open = new Map<string, number>();
  server.on("connection", (socket) => {
    const address = socket.remoteAddress ?? "";
    const count = open.get(address) ?? 0;
    if (count >= max) {
      socket.destroy();
      return;
    }
    open.set(address, count + 1);
    socket.once("close", () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}

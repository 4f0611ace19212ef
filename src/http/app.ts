import { randomUUID } from "node:crypto";
import type { ServerOptions as HttpsServerOptions } from "node:https";
import fastifySwaggerUi from "@fastify/swagger-ui";
import Fastify, { type FastifyServerOptions } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import type { Core } from "../core/core.js";
import type { Clock } from "../clock.js";
import { VERSION } from "../version.js";
import { installAuth } from "./auth.js";
import { authFailureLimiter } from "./auth-rate-limit.js";
import { installErrorHandling } from "./error-handler.js";
import { createMetrics, type Metrics } from "./metrics.js";
import { publicCache, type PublicCache } from "./public-cache.js";
import { registerOpenApi, serializerCompiler, validatorCompiler } from "./openapi.js";
import { auditRoutes } from "./routes/audit.js";
import { clusterRoutes } from "./routes/clusters.js";
import { healthRoutes } from "./routes/health.js";
import { intermediateRoutes } from "./routes/intermediates.js";
import { certificateRoutes } from "./routes/certificates.js";
import { rotationRoutes } from "./routes/rotations.js";
import { tokenRoutes } from "./routes/tokens.js";
import { trustDomainRoutes } from "./routes/trust-domains.js";

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
}

/** Largest request body accepted (PEM imports and CSRs are a few KiB). */
export const BODY_LIMIT = 64 * 1024;
/** Simultaneous connections accepted; more are refused by the server. */
export const MAX_CONNECTIONS = 1024;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Log fields that must never be written: credentials and key material. */
export const LOG_REDACT = ["req.headers.authorization", "req.headers.cookie", "res.headers['set-cookie']"];

/** Builds the meshroot API without listening; the CLI's `serve` is the only place that listens. */
export async function buildApp(deps: AppDeps) {
  const app = Fastify({
    logger: deps.logger ?? false,
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
    ...(deps.https ? { https: deps.https } : {}),
  }).withTypeProvider<ZodTypeProvider>();

  // Bounds on what one client can hold open: connections, and time to send the headers.
  app.server.maxConnections = MAX_CONNECTIONS;
  app.server.headersTimeout = 10_000;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.removeContentTypeParser("text/plain");
  app.addHook("onRequest", (request, reply, done) => {
    reply.header("x-request-id", request.id);
    done();
  });
  const metrics = deps.metrics ?? createMetrics();
  metrics.instrument(app);
  installErrorHandling(app);
  const failures = deps.authFailures ?? { limit: 20, windowMs: 60_000 };
  installAuth(app, deps.core.tokens, deps.core.audit, authFailureLimiter({ ...failures, now: () => deps.clock.now().getTime() }));

  await registerOpenApi(app, VERSION);
  await app.register(fastifySwaggerUi, { routePrefix: "/docs" });
  app.get("/openapi.json", { config: { auth: "public" }, schema: { hide: true } }, async () => app.swagger());

  const routeDeps = { core: deps.core, clock: deps.clock, publicCache: deps.publicCache ?? publicCache(deps.clock, 0) };
  await app.register(healthRoutes, { readiness: deps.readiness, metrics });
  await app.register(trustDomainRoutes, routeDeps);
  await app.register(clusterRoutes, routeDeps);
  await app.register(intermediateRoutes, routeDeps);
  await app.register(certificateRoutes, routeDeps);
  await app.register(rotationRoutes, routeDeps);
  await app.register(tokenRoutes, routeDeps);
  await app.register(auditRoutes, routeDeps);
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;

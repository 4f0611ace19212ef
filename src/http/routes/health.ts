import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import type { Metrics } from "../metrics.js";

const tags = ["operations"];

const Readiness = z.object({ ready: z.boolean(), checks: z.record(z.string(), z.boolean()) });

/** `metricsAuth`: who may read /metrics ("any": a valid token, MESHROOT_METRICS_TOKEN_REQUIRED). */
export const healthRoutes: FastifyPluginAsyncZod<{ readiness: () => z.infer<typeof Readiness>; metrics: Metrics; metricsAuth?: "public" | "any" }> = async (
  app,
  { readiness, metrics, metricsAuth = "public" },
) => {
  app.get(
    "/metrics",
    {
      config: { auth: metricsAuth },
      schema: {
        tags,
        summary: "Prometheus metrics: intermediate and root expiry, rotate-after, CRL age, issuance/rotation/revocation counters, request durations",
        response: { 200: { description: "Prometheus text exposition format", content: { "text/plain": { schema: z.string() } } } },
      },
    },
    async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.render()),
  );

  app.get(
    "/healthz",
    { config: { auth: "public" }, schema: { tags, summary: "Liveness: the process is up", response: { 200: z.object({ status: z.literal("ok") }) } } },
    async () => ({ status: "ok" as const }),
  );

  app.get(
    "/readyz",
    {
      config: { auth: "public" },
      schema: { tags, summary: "Readiness: database reachable, migrations applied, master key loaded", response: { 200: Readiness, 503: Readiness } },
    },
    async (_request, reply) => {
      const r = readiness();
      return reply.code(r.ready ? 200 : 503).send(r);
    },
  );
};

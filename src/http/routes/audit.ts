import { Readable } from "node:stream";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { exportedEvent, type AuditEvent } from "../../core/audit.js";
import { parseExpectedHead } from "../../core/audit-checkpoint.js";
import type { AuditFilter } from "../../core/ports.js";
import { DomainError } from "../../errors.js";
import { cursorPart, paginate } from "../pagination.js";
import type { RouteDeps } from "../route-deps.js";
import { AuditEventSchema, AuditExportQuery, AuditQuery, AuditVerdict, AuditVerifyQuery, CertificateDetail, CertificateQuery } from "../schemas/audit.js";
import { paged, problemResponses } from "../schemas/common.js";
import { Intermediate } from "../schemas/intermediates.js";
import { SerialParams } from "../schemas/lifecycle.js";
import { intermediateView } from "../views.js";

const auditView = (e: AuditEvent) => exportedEvent(e);

function filterOf(q: z.infer<typeof AuditExportQuery>): AuditFilter {
  return {
    action: q.action,
    actor: q.actor,
    cluster: q.cluster,
    trustDomain: q.trustDomain,
    outcome: q.outcome,
    since: q.since ? new Date(q.since) : undefined,
    until: q.until ? new Date(q.until) : undefined,
  };
}

export const auditRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, { core, clock }) => {
  app.get(
    "/v1/audit",
    {
      config: { auth: "auditor" },
      schema: { tags: ["audit"], summary: "Audit events, newest first, with filters and a cursor", querystring: AuditQuery, response: { 200: paged(AuditEventSchema), ...problemResponses } },
    },
    async (request) =>
      paginate(
        request.query,
        (page) => core.audit.list(filterOf(request.query), { limit: page.limit, before: page.after === undefined ? undefined : cursorPart(page.after, /^\d+$/).seq }),
        (e) => String(e.seq),
        auditView,
      ),
  );

  app.get(
    "/v1/audit/export",
    {
      config: { auth: "auditor" },
      schema: {
        tags: ["audit"],
        summary: "Matching audit events as NDJSON, oldest first (verify a full export with docs/audit.md)",
        querystring: AuditExportQuery,
        response: { 200: { description: "one JSON event per line", content: { "application/x-ndjson": { schema: z.string() } } }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const events = core.audit.iterate(filterOf(request.query));
      const lines = (async function* () {
        for await (const e of events) yield `${JSON.stringify(exportedEvent(e))}\n`;
      })();
      return reply.type("application/x-ndjson").header("cache-control", "no-store").send(Readable.from(lines) as never);
    },
  );

  app.get(
    "/v1/audit/verify",
    {
      config: { auth: "auditor" },
      schema: {
        tags: ["audit"],
        summary: "Recompute the hash chain, check it against the newest signed checkpoint (and an expected head), and cross-check creation events",
        querystring: AuditVerifyQuery,
        response: { 200: AuditVerdict, ...problemResponses },
      },
    },
    async (request) => core.audit.verify({ expectHead: request.query.expectHead ? parseExpectedHead(request.query.expectHead) : undefined }),
  );
};

import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { exportedEvent } from "../../core/audit.js";
import { auditContext } from "../audit-context.js";
import { cursorPart, paginate } from "../pagination.js";
import type { RouteDeps } from "../route-deps.js";
import { CertificateDetail, CertificateQuery } from "../schemas/audit.js";
import { paged, problemResponses } from "../schemas/common.js";
import { Intermediate } from "../schemas/intermediates.js";
import { RevokeBody, SerialParams } from "../schemas/lifecycle.js";
import { intermediateView } from "../views.js";

/** /v1/certificates: the inventory of every intermediate ever issued, and revocation by serial. */
export const certificateRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, { core, clock }) => {
  app.get(
    "/v1/certificates",
    {
      config: { auth: "auditor" },
      schema: {
        tags: ["inventory"],
        summary: "Every intermediate ever issued, newest first, with filters and a cursor",
        querystring: CertificateQuery,
        response: { 200: paged(Intermediate), ...problemResponses },
      },
    },
    async (request) => {
      const { cluster, trustDomain, status, expiresBefore, issuedAfter } = request.query;
      const filter = { cluster, trustDomain, status, expiresBefore: expiresBefore ? new Date(expiresBefore) : undefined, issuedAfter: issuedAfter ? new Date(issuedAfter) : undefined };
      const now = clock.now();
      return paginate(
        request.query,
        (page) => {
          const after = page.after === undefined ? undefined : cursorPart(page.after, /^\d+:[0-9a-f]+$/);
          return core.inventory.list(filter, { limit: page.limit, after: after && { createdAt: after.seq, serial: after.rest } });
        },
        (r) => `${r.createdAt.getTime()}:${r.serial}`,
        (r) => intermediateView(r, now),
      );
    },
  );

  app.get(
    "/v1/certificates/:serial",
    {
      config: { auth: "auditor" },
      schema: {
        tags: ["inventory"],
        summary: "One intermediate: PEM, fingerprints, custody, generation, supersede and revocation history",
        params: SerialParams,
        response: { 200: CertificateDetail, ...problemResponses },
      },
    },
    async (request) => {
      const d = await core.inventory.get(request.params.serial);
      return { ...intermediateView(d.record, clock.now()), fingerprints: d.fingerprints, history: d.history.map(exportedEvent) };
    },
  );

  app.post(
    "/v1/certificates/:serial/revoke",
    {
      config: { auth: "admin" },
      schema: {
        tags: ["revocation"],
        summary: "Revoke an intermediate; its root's CRL is rebuilt in the same transaction",
        params: SerialParams,
        body: RevokeBody,
        response: { 200: Intermediate, ...problemResponses },
      },
    },
    async (request) => intermediateView(await core.revocation.revoke(request.params.serial, request.body.reason, auditContext(request)), clock.now()),
  );
};

import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { tokenCoversCluster } from "../../core/tokens.js";
import { auditContext } from "../audit-context.js";
import type { RouteDeps } from "../route-deps.js";
import { problemResponses } from "../schemas/common.js";
import { DueCluster, DueQuery, RotationReport, RunBody } from "../schemas/lifecycle.js";

const tags = ["rotation"];

export const rotationRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, { core }) => {
  app.get(
    "/v1/rotations/due",
    {
      config: { auth: "any" },
      schema: {
        tags,
        summary: "Clusters whose active intermediate is past rotate-after (or will be within ?within=), and revoked clusters",
        querystring: DueQuery,
        response: { 200: z.object({ items: z.array(DueCluster) }), ...problemResponses },
      },
    },
    async (request) => {
      const due = await core.rotation.due(request.query.within ?? 0, request.query.trustDomain);
      return {
        items: due.map((d) => ({ ...d, rotateAfter: d.rotateAfter.toISOString(), notAfter: d.notAfter.toISOString() })),
      };
    },
  );

  app.post(
    "/v1/rotations/run",
    {
      config: { auth: "provisioner", scope: "run" },
      schema: {
        tags,
        summary: "Rotate every due cluster in the caller's scope (staged in trust domains with caCrl); reports rotated, pending, skipped and failed per cluster",
        body: RunBody,
        response: { 200: RotationReport, ...problemResponses },
      },
    },
    async (request) => {
      const token = request.token!;
      const { issued: _issued, ...report } = await core.rotation.run({
        dryRun: request.body?.dryRun,
        trustDomain: request.body?.trustDomain,
        inScope: (cluster) => tokenCoversCluster(token, cluster),
      }, auditContext(request));
      return {
        ...report,
        rotated: report.rotated.map((r) => ({ ...r, notAfter: r.notAfter.toISOString() })),
        wouldRotate: report.wouldRotate.map((r) => ({ ...r, rotateAfter: r.rotateAfter.toISOString(), notAfter: r.notAfter.toISOString() })),
        pending: report.pending.map((p) => ({ ...p, leadEndsAt: p.leadEndsAt?.toISOString() ?? null })),
      };
    },
  );
};

import { createHash } from "node:crypto";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { renderCacertsSecret } from "../../ca/cacerts.js";
import { DomainError } from "../../errors.js";
import { auditContext } from "../audit-context.js";
import type { RouteDeps } from "../route-deps.js";
import { PageQuery, paged, problemResponses } from "../schemas/common.js";
import { CacertsQuery, Intermediate, IntermediateParams, IssueBody, IssueHeaders, IssueResponse } from "../schemas/intermediates.js";
import { paginate } from "../pagination.js";
import { intermediateView } from "../views.js";

const tags = ["intermediates"];

export const intermediateRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, { core, clock }) => {
  app.post(
    "/v1/clusters/:name/intermediates",
    {
      config: { auth: "provisioner", scope: "param" },
      schema: {
        tags,
        summary: "Issue the cluster's first or next intermediate (supersedes the active one)",
        description:
          "`{}` generates and escrows the key; `{ csrPem }` signs the CSR's public key (external custody). " +
          "A retry with the same Idempotency-Key returns the same intermediate (200) instead of a new one.",
        params: IntermediateParams,
        headers: IssueHeaders,
        body: IssueBody,
        response: { 200: IssueResponse, 201: IssueResponse, ...problemResponses },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const result = await core.issuance.issue(request.params.name, {
        csrPem: body.csrPem,
        idempotencyKey: request.headers["idempotency-key"],
        requestHash: createHash("sha256").update(JSON.stringify(body)).digest("hex"),
      }, auditContext(request));
      if (!result.created) reply.header("idempotent-replayed", "true");
      return reply.code(result.created ? 201 : 200).send({ intermediate: intermediateView(result.record, clock.now()), cacerts: result.files });
    },
  );

  app.get(
    "/v1/clusters/:name/intermediates",
    {
      config: { auth: "any" },
      schema: {
        tags,
        summary: "Every generation of the cluster's intermediates, newest first",
        params: IntermediateParams,
        querystring: PageQuery,
        response: { 200: paged(Intermediate), ...problemResponses },
      },
    },
    async (request) => {
      await core.clusters.get(request.params.name);
      const now = clock.now();
      return paginate(
        request.query,
        (page) => core.issuance.list(request.params.name, page),
        (r) => String(r.generation),
        (r) => intermediateView(r, now),
      );
    },
  );

  app.get(
    "/v1/clusters/:name/cacerts",
    {
      config: { auth: "provisioner", scope: "param" },
      schema: {
        tags,
        summary: "The Istio cacerts Secret manifest for the active intermediate",
        description: "Ready for `kubectl apply --server-side -f -`. Clusters with external key custody get 409: meshroot does not hold their key.",
        params: IntermediateParams,
        querystring: CacertsQuery,
        response: {
          200: {
            description: "Kubernetes Secret manifest",
            content: { "application/yaml": { schema: z.string() }, "application/json": { schema: z.string() } },
          },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const { format, type, namespace, crl } = request.query;
      if (crl && type === "tls") {
        throw new DomainError("validation_failed", "the kubernetes.io/tls format has no place for a CRL; use type=opaque with crl=true", [
          { path: "querystring.crl", message: "not available with type=tls" },
        ]);
      }
      const { record, files } = await core.issuance.activeFiles(request.params.name, auditContext(request));
      if (crl) files["ca-crl.pem"] = await core.revocation.caCrlBundle(record.trustDomain);
      const manifest = renderCacertsSecret(
        files,
        {
          cluster: record.cluster,
          trustDomain: record.trustDomain,
          generation: record.generation,
          serial: record.serial,
          notAfter: record.notAfter,
          rotateAfter: record.rotateAfter,
        },
        { format, type, namespace },
      );
      return reply
        .header("cache-control", "no-store")
        .type(format === "json" ? "application/json" : "application/yaml")
        .send(manifest);
    },
  );
};

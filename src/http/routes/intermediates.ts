import { createHash } from "node:crypto";
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { renderCacertsSecret } from "../../istio/cacerts.js";
import { DomainError } from "../../errors.js";
import { auditContext } from "../audit-context.js";
import type { RouteDeps } from "../route-deps.js";
import { PageQuery, paged, problemResponses } from "../schemas/common.js";
import { ActivateBody, CacertsQuery, Intermediate, IntermediateParams, IssueBody, IssueHeaders, IssueResponse, PendingActivationResponse } from "../schemas/intermediates.js";
import { paginate } from "../pagination.js";
import { intermediateView } from "../views.js";
import { ClusterSerialParams, UploadedCrl } from "../schemas/lifecycle.js";
import { IssuanceRateLimited } from "../../core/issuance.js";

const tags = ["intermediates"];

const CRL_TYPES = ["application/pkix-crl", "application/x-pem-file"];

export const intermediateRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, { core, clock }) => {
  app.addContentTypeParser(CRL_TYPES, { parseAs: "buffer" }, (_request, body, done) => done(null, body));

  app.post(
    "/v1/clusters/:name/intermediates",
    {
      config: { auth: "provisioner", scope: "param" },
      schema: {
        tags,
        summary: "Issue the cluster's first or next intermediate (supersedes the active one; 202 while a staged rotation waits for peers)",
        description:
          "`{}` generates and escrows the key; `{ csrPem }` signs the CSR's public key (external custody). " +
          "A retry with the same Idempotency-Key returns the same intermediate (200) instead of a new one. " +
          "In a trust domain with `caCrl` (its clusters load ca-crl.pem) a rotation is staged: the next intermediate is prepared " +
          "and answered with 202 `pending_peers` until every peer has loaded its CRL; ask again (same request) or activate it, " +
          "and refresh every cluster's Secret meanwhile.",
        params: IntermediateParams,
        headers: IssueHeaders,
        body: IssueBody,
        response: { 200: IssueResponse, 201: IssueResponse, 202: PendingActivationResponse, ...problemResponses },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const result = await core.issuance.issue(request.params.name, {
        csrPem: body.csrPem,
        idempotencyKey: request.headers["idempotency-key"],
        requestHash: createHash("sha256").update(JSON.stringify(body)).digest("hex"),
      }, auditContext(request)).catch((err: unknown) => {
        if (err instanceof IssuanceRateLimited) reply.header("retry-after", String(err.retryAfterSeconds));
        throw err;
      });
      if (!result.created) reply.header("idempotent-replayed", "true");
      if (result.pending) {
        const { verdict } = result.pending;
        const serial = result.record.serial;
        return reply.code(202).send({
          status: "pending_peers" as const,
          intermediate: intermediateView(result.record, clock.now()),
          pendingPeers: verdict.peers.filter((p) => !p.met).map(({ met: _met, ...p }) => p),
          leadEndsAt: verdict.leadEndsAt?.toISOString() ?? null,
          next:
            (result.record.custody === "external"
              ? `upload the CRL its key signs (PUT /v1/clusters/${request.params.name}/intermediates/${serial}/crl: empty is fine) so that it reaches the peers; `
              : "") +
            `apply every cluster's refreshed Secret (GET /v1/clusters/{name}/cacerts?crl=true) and report it (PUT /v1/clusters/{name}/observation); then repeat this request, or POST /v1/clusters/${request.params.name}/intermediates/${serial}/activate`,
        });
      }
      return reply.code(result.created ? 201 : 200).send({ intermediate: intermediateView(result.record, clock.now()), cacerts: result.files });
    },
  );

  app.post(
    "/v1/clusters/:name/intermediates/:serial/activate",
    {
      config: { auth: "provisioner", scope: "param" },
      schema: {
        tags,
        summary: "Put a staged rotation's prepared intermediate in service once every peer loaded its CRL (409 gate_not_met names the peers); admins may force with a reason",
        params: ClusterSerialParams,
        body: ActivateBody,
        response: { 200: IssueResponse, ...problemResponses },
      },
    },
    async (request) => {
      const body = request.body ?? {};
      if (body.force && request.token?.role !== "admin") {
        throw new DomainError("forbidden", `a forced activation needs the admin role; token ${request.token?.id} has role ${request.token?.role}`);
      }
      const ctx = auditContext(request);
      await core.staging.activate(request.params.name, request.params.serial, body, ctx);
      const { record, files } = await core.issuance.activeFiles(request.params.name, ctx);
      return { intermediate: intermediateView(record, clock.now()), cacerts: files };
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
      if (crl) {
        const bundle = await core.revocation.caCrlBundle(record.trustDomain, { strict: crl === "strict" });
        files["ca-crl.pem"] = bundle.pem;
        // The issuers left out: their own workloads will be refused by peers until they upload a CRL.
        if (bundle.missing.length > 0) reply.header("meshroot-crl-missing", bundle.missing.map((m) => m.serial).join(","));
      }
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

  app.put(
    "/v1/clusters/:name/intermediates/:serial/crl",
    {
      config: { auth: "provisioner", scope: "param" },
      schema: {
        tags: ["revocation"],
        summary: "Upload the CRL an intermediate with an external key signed",
        description: "Body: the CRL as DER (application/pkix-crl) or PEM (application/x-pem-file). Its issuer and signature are checked; from then on it goes into every cluster's ca-crl.pem.",
        params: ClusterSerialParams,
        body: {
          content: {
            "application/pkix-crl": { schema: { type: "string", format: "binary" } },
            "application/x-pem-file": { schema: { type: "string" } },
          },
        } as unknown as z.ZodType,
        response: { 200: UploadedCrl, ...problemResponses },
      },
    },
    async (request) => {
      const body = request.body as unknown;
      if (!Buffer.isBuffer(body)) {
        throw new DomainError("validation_failed", "send the CRL itself as the body, with content type application/pkix-crl (DER) or application/x-pem-file (PEM)", [
          { path: "body", message: "expected a DER or PEM CRL" },
        ]);
      }
      const crl = await core.revocation.uploadCrl(request.params.name, request.params.serial, body, auditContext(request));
      return {
        issuerSerial: crl.issuerSerial,
        crlNumber: crl.crlNumber,
        thisUpdate: crl.thisUpdate.toISOString(),
        nextUpdate: crl.nextUpdate.toISOString(),
        entries: crl.entries,
      };
    },
  );
};

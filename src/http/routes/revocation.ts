import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { toPem } from "../../ca/pem.js";
import { DomainError } from "../../errors.js";
import { auditContext } from "../audit-context.js";
import { servedFromCache } from "../cached-response.js";
import type { RouteDeps } from "../route-deps.js";
import { Cluster } from "../schemas/clusters.js";
import { ClusterName, NameParam, problemResponses, TrustDomainName } from "../schemas/common.js";
import { Intermediate } from "../schemas/intermediates.js";
import { ClusterSerialParams, CrlQuery, RevokeBody, SerialParams, UploadedCrl } from "../schemas/lifecycle.js";
import { clusterView, intermediateView } from "../views.js";

const tags = ["revocation"];
const CRL_TYPES = ["application/pkix-crl", "application/x-pem-file"];

export const revocationRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, { core, clock }) => {
  app.addContentTypeParser(CRL_TYPES, { parseAs: "buffer" }, (_request, body, done) => done(null, body));

  app.post(
    "/v1/certificates/:serial/revoke",
    {
      config: { auth: "admin" },
      schema: {
        tags,
        summary: "Revoke an intermediate; its root's CRL is rebuilt in the same transaction",
        params: SerialParams,
        body: RevokeBody,
        response: { 200: Intermediate, ...problemResponses },
      },
    },
    async (request) => intermediateView(await core.revocation.revoke(request.params.serial, request.body.reason, auditContext(request)), clock.now()),
  );

  app.delete(
    "/v1/clusters/:name",
    {
      config: { auth: "admin" },
      schema: {
        tags,
        summary: "Decommission a cluster: revoke its active intermediate (cessationOfOperation), keep its history",
        params: NameParam(ClusterName),
        response: { 200: Cluster, ...problemResponses },
      },
    },
    async (request) => {
      await core.revocation.decommission(request.params.name, auditContext(request));
      return clusterView(await core.clusters.get(request.params.name), clock.now());
    },
  );

  app.get(
    "/v1/trust-domains/:name/crl",
    {
      config: { auth: "public" },
      onRequest: servedFromCache("application/pkix-crl", core.revocation.cachedRootCrlDer),
      schema: {
        tags,
        summary: "The root's current CRL (DER by default, ?format=pem)",
        params: NameParam(TrustDomainName),
        querystring: CrlQuery,
        response: {
          200: {
            description: "X.509 CRL",
            content: { "application/pkix-crl": { schema: z.string() }, "application/x-pem-file": { schema: z.string() } },
          },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const der = await core.revocation.rootCrlDer(request.params.name);
      return request.query.format === "pem"
        ? reply.type("application/x-pem-file").send(toPem(der, "X509 CRL"))
        : reply.type("application/pkix-crl").send(Buffer.from(der) as never);
    },
  );

  app.put(
    "/v1/clusters/:name/intermediates/:serial/crl",
    {
      config: { auth: "provisioner", scope: "param" },
      schema: {
        tags,
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

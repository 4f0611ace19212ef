import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { z } from "zod";
import { auditContext } from "../audit-context.js";
import { servedFromCache } from "../cached-response.js";
import type { RouteDeps } from "../route-deps.js";
import { NameParam, PageQuery, paged, problemResponses, TrustDomainName } from "../schemas/common.js";
import { CreatedTrustDomain, CreateTrustDomainBody, TrustDomain, UpdateTrustDomainBody } from "../schemas/trust-domains.js";
import { paginate } from "../pagination.js";
import { createdTrustDomainView, trustDomainView } from "../views.js";
import { DomainError } from "../../errors.js";
import { parseSinglePem } from "../../x509/pem.js";
import { RootParams } from "../schemas/lifecycle.js";
import { toPem } from "../../x509/pem.js";
import { CrlQuery } from "../schemas/lifecycle.js";

const tags = ["trust domains"];

export const trustDomainRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, { core, publicCache }) => {
  app.post(
    "/v1/trust-domains",
    {
      config: { auth: "admin" },
      schema: {
        tags,
        summary: "Create a trust domain with a generated or imported root",
        body: CreateTrustDomainBody,
        response: { 201: CreatedTrustDomain, ...problemResponses },
      },
    },
    async (request, reply) => reply.code(201).send(createdTrustDomainView(await core.trustDomains.create(request.body, auditContext(request)))),
  );

  app.get(
    "/v1/trust-domains",
    {
      config: { auth: "any" },
      schema: { tags, summary: "List trust domains with their roots", querystring: PageQuery, response: { 200: paged(TrustDomain), ...problemResponses } },
    },
    async (request) =>
      paginate(
        request.query,
        async (page) =>
          Promise.all((await core.trustDomains.list(page)).map(async (domain) => ({ domain, roots: await core.trustDomains.listRoots(domain.name) }))),
        (d) => d.domain.name,
        trustDomainView,
      ),
  );

  app.get(
    "/v1/trust-domains/:name",
    {
      config: { auth: "any" },
      schema: { tags, summary: "A trust domain with its roots", params: NameParam(TrustDomainName), response: { 200: TrustDomain, ...problemResponses } },
    },
    async (request) => trustDomainView(await core.trustDomains.get(request.params.name)),
  );

  app.patch(
    "/v1/trust-domains/:name",
    {
      config: { auth: "admin" },
      schema: {
        tags,
        summary: "Change a trust domain's settings (caCrl: stage rotations because its clusters load ca-crl.pem)",
        params: NameParam(TrustDomainName),
        body: UpdateTrustDomainBody,
        response: { 200: TrustDomain, ...problemResponses },
      },
    },
    async (request) => trustDomainView(await core.trustDomains.update(request.params.name, request.body, auditContext(request))),
  );

  app.get(
    "/v1/trust-domains/:name/bundle",
    {
      config: { auth: "public" },
      onRequest: servedFromCache("application/x-pem-file", (name) => publicCache.bundles.peek(name)),
      schema: {
        tags,
        summary: "The PEM trust bundle (every root the trust domain trusts, oldest first)",
        params: NameParam(TrustDomainName),
        response: { 200: { description: "PEM certificates", content: { "application/x-pem-file": { schema: z.string() } } }, ...problemResponses },
      },
    },
    async (request, reply) => reply.type("application/x-pem-file").send(await publicCache.bundles.get(request.params.name, () => core.trustDomains.bundlePem(request.params.name))),
  );

  app.get(
    "/v1/trust-domains/:name/roots/:serial/certificate",
    {
      config: { auth: "public" },
      schema: {
        tags,
        summary: "One root certificate, DER (the AIA caIssuers target of the intermediates it signs)",
        params: RootParams,
        response: { 200: { description: "DER certificate", content: { "application/pkix-cert": { schema: z.string() } } }, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { roots } = await core.trustDomains.get(request.params.name);
      const root = roots.find((r) => r.serial === request.params.serial);
      if (!root) throw new DomainError("certificate_not_found", `trust domain ${request.params.name} has no root with serial ${request.params.serial}`);
      return reply.type("application/pkix-cert").send(Buffer.from(parseSinglePem(root.certPem, "root", ["CERTIFICATE"]).der) as never);
    },
  );

  app.get(
    "/v1/trust-domains/:name/roots/:serial/crl",
    {
      config: { auth: "public" },
      schema: {
        tags: ["revocation"],
        summary: "One root's current CRL (DER by default, ?format=pem): the CRL distribution point of intermediates under a root from a root rotation",
        params: RootParams,
        querystring: CrlQuery,
        response: {
          200: { description: "X.509 CRL", content: { "application/pkix-crl": { schema: z.string() }, "application/x-pem-file": { schema: z.string() } } },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const der = await core.revocation.rootCrlDerOf(request.params.name, request.params.serial);
      return request.query.format === "pem"
        ? reply.type("application/x-pem-file").send(toPem(der, "X509 CRL"))
        : reply.type("application/pkix-crl").send(Buffer.from(der) as never);
    },
  );

  app.get(
    "/v1/trust-domains/:name/crl",
    {
      config: { auth: "public" },
      onRequest: servedFromCache("application/pkix-crl", (name) => publicCache.crls.peek(name)),
      schema: {
        tags: ["revocation"],
        summary: "The first root's current CRL (DER by default, ?format=pem): the CRL distribution point of the intermediates it signed",
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
      const der = await publicCache.crls.get(request.params.name, () => core.revocation.rootCrlDer(request.params.name));
      return request.query.format === "pem"
        ? reply.type("application/x-pem-file").send(toPem(der, "X509 CRL"))
        : reply.type("application/pkix-crl").send(Buffer.from(der) as never);
    },
  );
};

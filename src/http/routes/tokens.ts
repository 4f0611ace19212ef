import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { TokenRecord } from "../../core/ports.js";
import { auditContext } from "../audit-context.js";
import type { RouteDeps } from "../route-deps.js";
import { PageQuery, paged, problemResponses } from "../schemas/common.js";
import { CreatedToken, CreateTokenBody, Token, TokenParams } from "../schemas/tokens.js";
import { paginate } from "../pagination.js";
import { tokenView } from "../views.js";

const tags = ["tokens"];

/** A token as the API shows it: the shared view plus its trust-domain scope. */
const view = (t: TokenRecord) => ({ ...tokenView(t), trustDomains: t.trustDomains });

export const tokenRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, { core }) => {
  app.post(
    "/v1/tokens",
    {
      config: { auth: "admin" },
      schema: { tags, summary: "Create an API token (the secret is shown once)", body: CreateTokenBody, response: { 201: CreatedToken, ...problemResponses } },
    },
    async (request, reply) => {
      const { name, role, clusters, trustDomains, expiresAt } = request.body;
      const { record, secret } = await core.tokens.create({
        name,
        role,
        clusterPatterns: clusters,
        trustDomains,
        expiresAt: expiresAt ? new Date(expiresAt) : undefined,
      }, auditContext(request));
      return reply.code(201).header("cache-control", "no-store").send({ ...view(record), token: secret });
    },
  );

  app.get(
    "/v1/tokens",
    { config: { auth: "admin" }, schema: { tags, summary: "List API tokens (never their secrets)", querystring: PageQuery, response: { 200: paged(Token), ...problemResponses } } },
    async (request) => paginate(request.query, (page) => core.tokens.list(page), (t) => t.id, view),
  );

  app.delete(
    "/v1/tokens/:id",
    { config: { auth: "admin" }, schema: { tags, summary: "Revoke an API token", params: TokenParams, response: { 200: Token, ...problemResponses } } },
    async (request) => view(await core.tokens.revoke(request.params.id, auditContext(request))),
  );
};

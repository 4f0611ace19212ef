import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import { auditContext } from "../audit-context.js";
import type { RouteDeps } from "../route-deps.js";
import { Cluster, ListClustersQuery, PatchClusterBody, RegisterClusterBody } from "../schemas/clusters.js";
import { ClusterName, NameParam, paged, problemResponses } from "../schemas/common.js";
import { paginate } from "../pagination.js";
import { clusterView } from "../views.js";

const tags = ["clusters"];

export const clusterRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, { core, clock }) => {
  app.post(
    "/v1/clusters",
    {
      config: { auth: "provisioner", scope: "body" },
      schema: { tags, summary: "Register a cluster", body: RegisterClusterBody, response: { 201: Cluster, ...problemResponses } },
    },
    async (request, reply) => reply.code(201).send(clusterView(await core.clusters.register(request.body, auditContext(request)), clock.now())),
  );

  app.get(
    "/v1/clusters",
    {
      config: { auth: "any" },
      schema: { tags, summary: "List clusters with status and active intermediate", querystring: ListClustersQuery, response: { 200: paged(Cluster), ...problemResponses } },
    },
    async (request) => {
      const now = clock.now();
      return paginate(
        request.query,
        (page) => core.clusters.list(page, { trustDomain: request.query.trustDomain }),
        (v) => v.cluster.name,
        (v) => clusterView(v, now),
      );
    },
  );

  app.get(
    "/v1/clusters/:name",
    {
      config: { auth: "any" },
      schema: { tags, summary: "A cluster with status and active intermediate", params: NameParam(ClusterName), response: { 200: Cluster, ...problemResponses } },
    },
    async (request) => clusterView(await core.clusters.get(request.params.name), clock.now()),
  );

  app.patch(
    "/v1/clusters/:name",
    {
      config: { auth: "provisioner", scope: "param" },
      schema: { tags, summary: "Change labels and policy", params: NameParam(ClusterName), body: PatchClusterBody, response: { 200: Cluster, ...problemResponses } },
    },
    async (request) => clusterView(await core.clusters.update(request.params.name, request.body, auditContext(request)), clock.now()),
  );

  app.delete(
    "/v1/clusters/:name",
    {
      config: { auth: "admin" },
      schema: {
        tags: ["revocation"],
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
};

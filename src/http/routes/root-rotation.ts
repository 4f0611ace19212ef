import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { RootRotationView as View } from "../../core/root-rotation.js";
import type { RootRecord } from "../../core/ports.js";
import { auditContext } from "../audit-context.js";
import type { RouteDeps } from "../route-deps.js";
import { NameParam, problemResponses, TrustDomainName } from "../schemas/common.js";
import { Intermediate } from "../schemas/intermediates.js";
import { AdvanceBody, AdvanceResponse, RollbackBody, RootRotationView, RotationClusterParams, RotationCsrBody, StartRootRotationBody } from "../schemas/root-rotation.js";
import { intermediateView, subjectOf } from "../views.js";

const tags = ["root rotation"];
const HOUR_MS = 3_600_000;

/** Root rotation (README: Root rotation): admin steps, status for auditors too. */
export const rootRotationRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, { core, clock }) => {
  const base = "/v1/trust-domains/:name/root-rotation";

  app.post(
    base,
    {
      config: { auth: "admin" },
      schema: {
        tags,
        summary: "Start a root rotation: a new root (generated or imported) and an intermediate under it for every escrowed cluster, all prepared; nothing clusters load changes yet",
        params: NameParam(TrustDomainName),
        body: StartRootRotationBody,
        response: { 201: RootRotationView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const b = request.body ?? {};
      const v = await core.rootRotation.start(
        request.params.name,
        { root: b.root, import: b.import, workloadCertTtlMs: b.workloadCertTtlHours === undefined ? undefined : b.workloadCertTtlHours * HOUR_MS, revokeOldRoot: b.revokeOldRoot },
        auditContext(request),
      );
      return reply.code(201).send(rotationView(v));
    },
  );

  app.get(
    base,
    {
      config: { auth: "auditor" },
      schema: { tags, summary: "The rotation's phase, when each began, and per cluster what its cacerts holds and whether its last report meets the next gate", params: NameParam(TrustDomainName), response: { 200: RootRotationView, ...problemResponses } },
    },
    async (request) => rotationView(await core.rootRotation.status(request.params.name)),
  );

  app.post(
    `${base}/advance`,
    {
      config: { auth: "admin" },
      schema: {
        tags,
        summary: "Move to the next phase when its gate is met (409 gate_not_met names the clusters and why); in sign-new, first switch the clusters still on the old root; { force, reason } overrides a gate",
        params: NameParam(TrustDomainName),
        body: AdvanceBody,
        response: { 200: AdvanceResponse, ...problemResponses },
      },
    },
    async (request) => {
      const r = await core.rootRotation.advance(request.params.name, { force: request.body?.force, reason: request.body?.reason }, auditContext(request));
      return { movedTo: r.movedTo, switched: r.switched, forced: r.forced.map(gateItem), rotation: rotationView(r.view) };
    },
  );

  app.post(
    `${base}/rollback`,
    {
      config: { auth: "admin" },
      schema: { tags, summary: "Step back one phase (sign-new → trust-both → prepared → rolled back); refused from drop-old on", params: NameParam(TrustDomainName), body: RollbackBody, response: { 200: RootRotationView, ...problemResponses } },
    },
    async (request) => rotationView(await core.rootRotation.rollback(request.params.name, request.body?.reason, auditContext(request))),
  );

  app.post(
    `${base}/clusters/:cluster/switch`,
    {
      config: { auth: "admin" },
      schema: { tags, summary: "In sign-new, switch one cluster to its intermediate under the new root (a canary)", params: RotationClusterParams, response: { 200: RootRotationView, ...problemResponses } },
    },
    async (request) => rotationView(await core.rootRotation.switchCluster(request.params.name, request.params.cluster, auditContext(request))),
  );

  app.post(
    `${base}/clusters/:cluster/csr`,
    {
      config: { auth: "admin" },
      schema: {
        tags,
        summary: "An external-custody cluster's intermediate under the new root, from its CSR (prepared until it switches)",
        params: RotationClusterParams,
        body: RotationCsrBody,
        response: { 201: Intermediate, ...problemResponses },
      },
    },
    async (request, reply) => {
      const rec = await core.rootRotation.prepareFromCsr(request.params.name, request.params.cluster, request.body.csrPem, auditContext(request));
      return reply.code(201).send(intermediateView(rec, clock.now()));
    },
  );
};

const rootSummary = (r: RootRecord) => ({ serial: r.serial, generation: r.generation, status: r.status, subject: subjectOf(r.serial, r.certPem), notAfter: r.notAfter.toISOString(), fingerprintSha256: r.fingerprintSha256 });

const gateItem = (g: { cluster: string; met: boolean; code?: string | undefined; detail?: string | undefined }) => ({
  cluster: g.cluster,
  met: g.met,
  ...(g.code ? { code: g.code as never } : {}),
  ...(g.detail ? { detail: g.detail } : {}),
});

/** The API shape of a rotation. */
function rotationView(v: View) {
  const r = v.rotation;
  const side = (serial: string) => (serial === r.newRoot ? ("new" as const) : ("old" as const));
  const gates = new Map(v.gate.clusters.map((g) => [g.cluster, g]));
  return {
    id: r.id,
    trustDomain: r.trustDomain,
    phase: r.phase,
    history: r.history.map((h) => ({ phase: h.phase, at: h.at.toISOString() })),
    startedAt: r.startedAt.toISOString(),
    finishedAt: r.finishedAt?.toISOString() ?? null,
    lastSwitchAt: r.lastSwitchAt?.toISOString() ?? null,
    workloadCertTtlHours: r.workloadCertTtlMs / HOUR_MS,
    revokeOldRoot: r.revokeOldRoot,
    oldRoot: rootSummary(v.oldRoot),
    newRoot: rootSummary(v.newRoot),
    gate: { next: v.gate.next, met: v.gate.met, notBefore: v.gate.notBefore?.toISOString() ?? null, blocking: v.gate.clusters.filter((g) => !g.met).map(gateItem) },
    clusters: v.clusters.map((c) => {
      const { cluster: _c, ...gate } = gateItem(gates.get(c.name) ?? { cluster: c.name, met: true });
      return {
        name: c.name,
        custody: c.custody,
        switched: c.switched,
        active: c.active ? { serial: c.active.serial, generation: c.active.generation, root: side(c.active.rootSerial) } : null,
        prepared: c.prepared ? { serial: c.prepared.serial, generation: c.prepared.generation } : null,
        rootCertPem: c.bundle.map((b) => side(b.serial)),
        lastObservedAt: c.observation?.observedAt.toISOString() ?? null,
        gate,
      };
    }),
  };
}

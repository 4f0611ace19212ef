import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";
import type { FleetDetail as Detail, FleetEntry as Entry } from "../../core/fleet.js";
import { parseLabelSelector } from "../../core/label-selector.js";
import type { IntermediateSummary, RootRecord } from "../../core/ports.js";
import { DomainError } from "../../errors.js";
import { auditContext } from "../audit-context.js";
import { subjectOf } from "../views.js";
import { paginate } from "../pagination.js";
import type { RouteDeps } from "../route-deps.js";
import { ClusterName, NameParam, paged, problemResponses } from "../schemas/common.js";
import { FleetEntry, ListFleetQuery, ObservationBodyDoc, ObservationResponse } from "../schemas/fleet.js";

const tags = ["fleet"];
/** ca-crl.pem grows with the fleet (a CRL per live intermediate): more room than other bodies. */
const OBSERVATION_BODY_LIMIT = 1024 * 1024;

export const fleetRoutes: FastifyPluginAsyncZod<RouteDeps> = async (app, { core, clock }) => {
  // The core reads the raw text: a private key is refused before the body is parsed. Scoped to
  // this plugin, so other routes keep the JSON parser.
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string", bodyLimit: OBSERVATION_BODY_LIMIT }, (_request, body, done) => done(null, body));

  app.put(
    "/v1/clusters/:name/observation",
    {
      config: { auth: "provisioner", scope: "param" },
      bodyLimit: OBSERVATION_BODY_LIMIT,
      schema: {
        tags,
        summary: "Report what the cluster's Istio loaded; answers its trust state",
        description:
          "Body: `{ rootCertPem, caCertPem?, crlPem?, istioVersion?, multiRoot?, ambient? }` or a ConfigMap as JSON " +
          "(`kubectl get cm istio-ca-root-cert -o json`). A body holding a private key is refused (422 private_key_in_body) and neither stored nor logged.",
        params: NameParam(ClusterName),
        body: ObservationBodyDoc,
        response: { 200: ObservationResponse, ...problemResponses },
      },
    },
    async (request) => {
      const body = request.body as unknown;
      if (typeof body !== "string") {
        throw new DomainError("validation_failed", "send the observation as JSON with content type application/json", [{ path: "body", message: "expected application/json" }]);
      }
      return detailView(await core.fleet.observe(request.params.name, body, auditContext(request)), clock.now());
    },
  );

  app.get(
    "/v1/clusters/:name/observation",
    {
      config: { auth: "any" },
      schema: {
        tags,
        summary: "The cluster's trust state with what it should load beside what it reported (roots, signing certificate, CRLs)",
        params: NameParam(ClusterName),
        response: { 200: ObservationResponse, ...problemResponses },
      },
    },
    async (request) => detailView(await core.fleet.get(request.params.name), clock.now()),
  );

  app.get(
    "/v1/fleet",
    {
      config: { auth: "any" },
      schema: { tags, summary: "Every cluster with its status and trust state (what it runs against what meshroot issued)", querystring: ListFleetQuery, response: { 200: paged(FleetEntry), ...problemResponses } },
    },
    async (request) => {
      const { trustDomain, state, selector } = request.query;
      const now = clock.now();
      const labels = selector === undefined ? undefined : parseLabelSelector(selector);
      return paginate(request.query, (page) => core.fleet.list({ trustDomain, state, selector: labels }, page), (e) => e.cluster.name, (e) => fleetView(e, now));
    },
  );
};

/** The API shape of a fleet entry. */
function fleetView(e: Entry, now: Date) {
  const seen = e.observation?.observedAt;
  return {
    name: e.cluster.name,
    trustDomain: e.cluster.trustDomain,
    labels: e.cluster.labels,
    status: e.status,
    generation: e.active?.generation ?? null,
    notAfter: e.active?.notAfter.toISOString() ?? null,
    rotateAfter: e.active?.rotateAfter.toISOString() ?? null,
    trust: { state: e.trust.state, reasons: e.trust.reasons },
    lastObservedAt: seen?.toISOString() ?? null,
    observationAgeSeconds: seen ? Math.floor((now.getTime() - seen.getTime()) / 1000) : null,
    istioVersion: e.observation?.istioVersion ?? null,
    crlNextUpdate: e.trust.crlNextUpdate?.toISOString() ?? null,
  };
}

const certificateView = (r: RootRecord | IntermediateSummary, subject: string) => ({
  fingerprintSha256: r.fingerprintSha256,
  serial: r.serial,
  subject,
  notAfter: r.notAfter.toISOString(),
});

/** A fleet entry with what the cluster should load and what it reported. */
function detailView(d: Detail, now: Date) {
  const o = d.observation;
  return {
    ...fleetView(d, now),
    desired: {
      roots: d.desired.roots.map((r) => certificateView(r, subjectOf(r.serial, r.certPem))),
      activeIntermediate: d.active ? certificateView(d.active, d.active.subject ?? (d.active.certPem ? subjectOf(d.active.serial, d.active.certPem) : "")) : null,
      crlIssuers: d.desired.crlIssuers.map((i) => ({ serial: i.serial, kind: i.kind, ...(i.cluster === undefined ? {} : { cluster: i.cluster }) })),
    },
    observed: o
      ? {
          observedAt: o.observedAt.toISOString(),
          source: o.source,
          roots: o.facts.roots,
          caCert: o.facts.caCert,
          crls: o.facts.crls && o.facts.crls.map(({ issuer, keyId, thisUpdate, nextUpdate, revoked }) => ({ issuer, keyId, thisUpdate, nextUpdate, revoked })),
          istioVersion: o.istioVersion,
          multiRoot: o.multiRoot,
          ambient: o.ambient,
        }
      : null,
  };
}

import Fastify from "fastify";
import fastifySwaggerUi from "@fastify/swagger-ui";
import { describe, expect, it } from "vitest";
import { docsPageOptions, registerOpenApi } from "../../src/http/openapi.js";
import { testApp } from "../helpers.js";

interface Operation {
  security?: Record<string, string[]>[];
  requestBody?: { content: Record<string, { schema?: Schema; example?: unknown; examples?: Record<string, { value: unknown }> }> };
}
interface Schema {
  $ref?: string;
  examples?: unknown[];
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  security: Record<string, string[]>[];
  components: { schemas: Record<string, Schema> };
}

const METHODS = ["get", "post", "put", "patch", "delete"];

async function served() {
  const t = await testApp();
  const doc = (await t.app.inject({ url: "/openapi.json" })).json() as Doc;
  return { t, doc };
}

function operations(doc: Doc): { method: string; path: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ method, path, op })),
  );
}

function resolve(doc: Doc, schema: Schema | undefined): Schema | undefined {
  if (!schema?.$ref) return schema;
  return doc.components.schemas[schema.$ref.replace("#/components/schemas/", "")];
}

/** Every request example an operation documents: the schema's `examples`, the media type's `example` and `examples`. */
function requestExamples(doc: Doc, op: Operation): unknown[] {
  const media = op.requestBody?.content["application/json"];
  if (!media) return [];
  return [...(resolve(doc, media.schema)?.examples ?? []), ...(media.example !== undefined ? [media.example] : []), ...Object.values(media.examples ?? {}).map((e) => e.value)];
}

describe("OpenAPI security requirements", () => {
  it("public routes (by their config.auth) declare none; every other route declares bearer auth, and refuses a request without a token", async () => {
    const t = await testApp();
    // What each route's own configuration says, read from the request's route options.
    const access = new Map<string, string>();
    t.app.addHook("onRequest", async (request) => {
      access.set(`${request.method} ${request.routeOptions.url}`, String(request.routeOptions.config.auth ?? "admin"));
    });
    const doc = (await t.app.inject({ url: "/openapi.json" })).json() as Doc;
    const ops = operations(doc);
    expect(ops.length).toBeGreaterThan(20);
    const publicOps: string[] = [];
    for (const { method, path, op } of ops) {
      const url = path.replace(/\{[^}]+\}/g, "00");
      const res = await t.app.inject({ method: method.toUpperCase() as "GET", url });
      const key = `${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ":$1")}`;
      const auth = access.get(key);
      expect(auth, `${key} was not reached`).toBeDefined();
      const security = op.security ?? doc.security;
      if (auth === "public") {
        publicOps.push(key);
        expect(security, key).toEqual([]);
        expect(res.statusCode, key).not.toBe(401);
      } else {
        expect(security, key).toEqual([{ bearer: [] }]);
        expect(res.statusCode, key).toBe(401);
      }
    }
    // The list, as a floor (the set itself comes from the routes).
    for (const path of ["GET /healthz", "GET /readyz", "GET /metrics", "GET /v1/trust-domains/:name/bundle", "GET /v1/trust-domains/:name/crl", "GET /v1/trust-domains/:name/roots/:serial/certificate"]) {
      expect(publicOps).toContain(path);
    }
  });
});

describe("OpenAPI components", () => {
  it("names the main request and response types, and every reference resolves", async () => {
    const { doc } = await served();
    const names = Object.keys(doc.components.schemas);
    for (const name of [
      "Problem",
      "TrustDomain",
      "CreatedTrustDomain",
      "CreateTrustDomainRequest",
      "Cluster",
      "RegisterClusterRequest",
      "Intermediate",
      "IssueRequest",
      "IssueResponse",
      "RevokeRequest",
      "Token",
      "CreatedToken",
      "CreateTokenRequest",
      "RotationRunRequest",
      "RotationReport",
      "FleetClusterDetail",
    ]) {
      expect(names).toContain(name);
    }
    const text = JSON.stringify(doc);
    for (const [, name] of text.matchAll(/"#\/components\/schemas\/([^"]+)"/g)) expect(names, `dangling $ref ${name}`).toContain(name);
    for (const name of names) expect(text, `unused component ${name}`).toContain(`"#/components/schemas/${name}"`);
    expect(doc.paths["/v1/trust-domains"]!.post!.requestBody!.content["application/json"]!.schema).toEqual({ $ref: "#/components/schemas/CreateTrustDomainRequest" });
  });
});

/**
 * Where each documented example goes, in an order the server accepts: the trust domain first,
 * then its cluster, its intermediate, and so on. A new route with a request example needs a line.
 */
const EXAMPLE_ORDER: { route: string; url: (ctx: { serial?: string }) => string }[] = [
  { route: "POST /v1/trust-domains", url: () => "/v1/trust-domains" },
  { route: "POST /v1/clusters", url: () => "/v1/clusters" },
  { route: "PATCH /v1/clusters/{name}", url: () => "/v1/clusters/east" },
  { route: "POST /v1/clusters/{name}/intermediates", url: () => "/v1/clusters/east/intermediates" },
  { route: "PUT /v1/clusters/{name}/observation", url: () => "/v1/clusters/east/observation" },
  { route: "POST /v1/tokens", url: () => "/v1/tokens" },
  { route: "POST /v1/rotations/run", url: () => "/v1/rotations/run" },
  { route: "POST /v1/trust-domains/{name}/root-rotation", url: () => "/v1/trust-domains/mesh.example.com/root-rotation" },
  { route: "POST /v1/trust-domains/{name}/root-rotation/advance", url: () => "/v1/trust-domains/mesh.example.com/root-rotation/advance" },
  { route: "POST /v1/trust-domains/{name}/root-rotation/rollback", url: () => "/v1/trust-domains/mesh.example.com/root-rotation/rollback" },
  { route: "POST /v1/certificates/{serial}/revoke", url: ({ serial }) => `/v1/certificates/${serial}/revoke` },
  { route: "PATCH /v1/trust-domains/{name}", url: () => "/v1/trust-domains/mesh.example.com" },
];

describe("OpenAPI request examples", () => {
  it("the main routes document realistic request examples", async () => {
    const { doc } = await served();
    for (const route of ["POST /v1/trust-domains", "POST /v1/clusters", "POST /v1/clusters/{name}/intermediates", "POST /v1/certificates/{serial}/revoke", "POST /v1/tokens", "POST /v1/rotations/run", "PUT /v1/clusters/{name}/observation"]) {
      const [method, path] = route.split(" ") as [string, string];
      expect(requestExamples(doc, doc.paths[path]![method.toLowerCase()]!).length, route).toBeGreaterThan(0);
    }
  });

  it("the server accepts every documented request example (2xx), sent in order", async () => {
    const { t, doc } = await served();
    const documented = operations(doc)
      .map(({ method, path, op }) => ({ route: `${method.toUpperCase()} ${path}`, method, examples: requestExamples(doc, op) }))
      .filter((o) => o.examples.length > 0);
    const unplaced = documented.map((o) => o.route).filter((r) => !EXAMPLE_ORDER.some((e) => e.route === r));
    expect(unplaced, "routes with request examples that EXAMPLE_ORDER does not place").toEqual([]);
    const ctx: { serial?: string } = {};
    let sent = 0;
    for (const { route, url } of EXAMPLE_ORDER) {
      const entry = documented.find((o) => o.route === route);
      if (!entry) continue;
      for (const example of entry.examples) {
        const res = await t.app.inject({ method: entry.method.toUpperCase() as "POST", url: url(ctx), headers: t.auth(), payload: example as object });
        expect(res.statusCode, `${route} ${JSON.stringify(example).slice(0, 200)}: ${res.body.slice(0, 500)}`).toBeGreaterThanOrEqual(200);
        expect(res.statusCode, `${route}: ${res.body.slice(0, 500)}`).toBeLessThan(300);
        sent++;
        const serial = res.json()?.intermediate?.serial;
        if (typeof serial === "string") ctx.serial = serial;
      }
    }
    expect(sent).toBeGreaterThanOrEqual(8);
  });
});

describe("the docs page", () => {
  it("is what the served app shows at /docs", async () => {
    const t = await testApp();
    const page = await t.app.inject({ url: "/docs/" });
    expect([page.statusCode, page.body.includes("<title>meshroot API</title>")]).toEqual([200, true]);
    expect((await t.app.inject({ url: "/docs/static/theme/meshroot.css" })).statusCode).toBe(200);
  });

  it("is titled and styled as meshroot's, with every asset served locally", async () => {
    const app = Fastify();
    await registerOpenApi(app, "test");
    await app.register(fastifySwaggerUi, docsPageOptions);
    app.get("/healthz", async () => ({ status: "ok" }));
    const page = await app.inject({ url: "/docs/" });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain("<title>meshroot API</title>");
    expect(page.body).toContain("meshroot.css");
    // Nothing fetched from elsewhere: every src/href is relative or a data: URL.
    for (const [, ref] of page.body.matchAll(/(?:src|href)="([^"]+)"/g)) expect(ref).not.toMatch(/^(?:https?:)?\/\//);
    const init = await app.inject({ url: "/docs/static/swagger-initializer.js" });
    expect(init.statusCode).toBe(200);
    expect(init.body).toMatch(/validatorUrl: null/);
    expect(init.body).toContain("data:image/svg+xml;base64,");
    // Every asset the page links is served by meshroot (the theme's stylesheet and favicon among them).
    const links = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map(([, ref]) => new URL(ref!, "http://meshroot.invalid/docs/").pathname);
    expect(links).toEqual(expect.arrayContaining(["/docs/static/theme/meshroot.css", "/docs/static/theme/favicon.svg"]));
    for (const link of links) expect((await app.inject({ url: link })).statusCode, link).toBe(200);
    const icon = await app.inject({ url: "/docs/static/theme/favicon.svg" });
    expect(icon.headers["content-type"]).toBe("image/svg+xml");
    await app.close();
  });
});

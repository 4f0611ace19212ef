import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { openApiDocument } from "../../scripts/openapi-document.js";
import { testApp } from "../helpers.js";

describe("OpenAPI", () => {
  it("the committed openapi/openapi.json is what the code generates (run `npm run openapi` after changing a route)", async () => {
    const committed = readFileSync(new URL("../../openapi/openapi.json", import.meta.url), "utf8");
    expect(committed).toBe(await openApiDocument());
  });

  it("is served at /openapi.json as OpenAPI 3.1 with every route, and /docs renders it", async () => {
    const t = await testApp();
    const doc = (await t.app.inject({ url: "/openapi.json" })).json();
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toContain("/v1/clusters/{name}/cacerts");
    const issue = doc.paths["/v1/clusters/{name}/intermediates"].post;
    expect(issue.parameters.map((p: { name: string }) => p.name)).toContain("idempotency-key");
    expect(issue.responses["201"]).toBeDefined();
    expect(doc.paths["/v1/clusters/{name}/cacerts"].get.responses["200"].content).toHaveProperty("application/yaml");
    const body = doc.paths["/v1/trust-domains"].post.requestBody.content["application/json"].schema;
    expect(doc.components.schemas[body.$ref.replace("#/components/schemas/", "")].properties.name.pattern).toBeDefined();
    const docs = await t.app.inject({ url: "/docs" });
    expect([200, 302]).toContain(docs.statusCode);
    const page = await t.app.inject({ url: "/docs/" });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain("swagger-ui");
    const served = await t.app.inject({ url: "/docs/json" });
    expect(served.json().paths).toEqual(doc.paths);
  });
});

import { describe, expect, it } from "vitest";
import { testApp, TEST_CTX } from "../helpers.js";

describe("bundle and CRL hot path (served again from the one-second cache)", () => {
  it("answers repeated requests with the same bytes and headers, counts them, and never serves stale content after a write", async () => {
    const t = await testApp();
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    await t.core.clusters.register({ name: "east", trustDomain: "cluster.local" }, TEST_CTX);
    const issued = await t.core.issuance.issue("east", {}, TEST_CTX);
    for (const url of ["/v1/trust-domains/cluster.local/bundle", "/v1/trust-domains/cluster.local/crl"]) {
      const first = await t.app.inject({ url, headers: { "x-request-id": "first" } });
      const again = await t.app.inject({ url, headers: { "x-request-id": "again" } });
      expect(first.statusCode).toBe(200);
      expect(again.rawPayload).toEqual(first.rawPayload);
      expect(again.headers["content-type"]).toBe(first.headers["content-type"]);
      expect(again.headers["x-request-id"]).toBe("again");
    }
    // A query string goes the full way: PEM, not the cached DER.
    const pem = await t.app.inject({ url: "/v1/trust-domains/cluster.local/crl?format=pem" });
    expect(pem.body).toContain("-----BEGIN X509 CRL-----");
    expect((await t.app.inject({ url: "/v1/trust-domains/cluster.local/crl?format=nope" })).statusCode).toBe(400);
    // Unknown trust domains are not cached: still 404.
    for (let i = 0; i < 2; i++) expect((await t.app.inject({ url: "/v1/trust-domains/nowhere/bundle" })).statusCode).toBe(404);
    // A revocation in this process shows at once.
    const before = (await t.app.inject({ url: "/v1/trust-domains/cluster.local/crl" })).rawPayload;
    await t.core.revocation.revoke(issued.record.serial, "keyCompromise", TEST_CTX);
    const after = (await t.app.inject({ url: "/v1/trust-domains/cluster.local/crl" })).rawPayload;
    expect(after).not.toEqual(before);
    expect(after.includes(Buffer.from(issued.record.serial.slice(2), "hex"))).toBe(true);
    const metrics = (await t.app.inject({ url: "/metrics", headers: t.auth() })).body;
    expect(metrics).toMatch(/meshroot_http_request_duration_seconds_count\{method="GET",route="\/v1\/trust-domains\/:name\/bundle",status_code="200"\} 2/);
  });
});

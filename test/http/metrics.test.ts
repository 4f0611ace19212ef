import { describe, expect, it } from "vitest";
import { DAY_MS } from "../../src/clock.js";
import { makeCsr, testApp, TEST_CTX } from "../helpers.js";

/** Parses Prometheus text into { "name{labels}": value }. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

describe("GET /metrics", () => {
  it("exposes fleet expiry, rotate-after, root expiry, CRL age, outcome counters and request durations", async () => {
    const t = await testApp();
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    await t.core.clusters.register({ name: "east", trustDomain: "cluster.local", policy: { validityDays: 30, renewBeforeDays: 10 } }, TEST_CTX);
    await t.core.clusters.register({ name: "west", trustDomain: "cluster.local" }, TEST_CTX);
    const east = (await t.core.issuance.issue("east", {}, TEST_CTX)).record;
    await t.core.issuance.issue("west", { csrPem: (await makeCsr()).pem }, TEST_CTX);
    await t.core.issuance.issue("east", { csrPem: "nope" }, TEST_CTX).catch(() => undefined);
    const crl = await t.app.inject({ url: "/v1/trust-domains/cluster.local/crl" });
    expect(crl.statusCode).toBe(200);
    t.clock.advance(3600_000);
    await t.core.revocation.revoke(east.serial, "superseded", TEST_CTX);
    await t.core.revocation.revoke(east.serial, "superseded", TEST_CTX).catch(() => undefined);
    await t.core.rotation.run({}, TEST_CTX);
    t.clock.advance(60_000);

    const res = await t.app.inject({ url: "/metrics" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("text/plain");
    const m = samples(res.body);
    const eastNow = (await t.core.clusters.get("east")).active!;
    const root = (await t.core.trustDomains.get("cluster.local")).roots[0]!;
    expect(m.get('meshroot_intermediate_not_after_timestamp_seconds{cluster="east",trust_domain="cluster.local"}')).toBe(eastNow.notAfter.getTime() / 1000);
    expect(m.get('meshroot_intermediate_rotate_after_timestamp_seconds{cluster="east",trust_domain="cluster.local"}')).toBe(eastNow.rotateAfter.getTime() / 1000);
    expect(m.has('meshroot_intermediate_not_after_timestamp_seconds{cluster="west",trust_domain="cluster.local"}')).toBe(true);
    expect(m.get(`meshroot_root_not_after_timestamp_seconds{trust_domain="cluster.local",serial="${root.serial}",status="active"}`)).toBe(root.notAfter.getTime() / 1000);
    // The revocation rebuilt the CRL an hour after the first one; a minute has passed since.
    expect(m.get('meshroot_crl_age_seconds{trust_domain="cluster.local"}')).toBe(60);
    expect(m.get('meshroot_crl_next_update_timestamp_seconds{trust_domain="cluster.local"}')).toBe(Math.floor((t.clock.now().getTime() - 60_000) / 1000) + 7 * 86400);
    expect(m.get('meshroot_issuances_total{outcome="success"}')).toBe(3); // east, west, east's rotation
    expect(m.get('meshroot_issuances_total{outcome="failure"}')).toBe(1);
    expect(m.get('meshroot_revocations_total{outcome="success"}')).toBe(1);
    expect(m.get('meshroot_revocations_total{outcome="failure"}')).toBe(1);
    expect(m.get('meshroot_rotations_total{outcome="success"}')).toBe(1);
    expect(m.get('meshroot_http_request_duration_seconds_count{method="GET",route="/v1/trust-domains/:name/crl",status_code="200"}')).toBe(1);
    expect(res.body).toContain("process_cpu_seconds_total");
    // Prometheus naming: timestamps in seconds, counters end in _total.
    for (const name of new Set([...res.body.matchAll(/^# TYPE (meshroot_\S+) (\w+)/gm)].map((x) => `${x[1]} ${x[2]}`))) {
      const [n, type] = name.split(" ");
      if (type === "counter") expect(n).toMatch(/_total$/);
      if (n!.includes("timestamp")) expect(n).toMatch(/_timestamp_seconds$/);
    }
  });

  it("drops a cluster's gauges once it is decommissioned", async () => {
    const t = await testApp();
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    await t.core.clusters.register({ name: "east", trustDomain: "cluster.local" }, TEST_CTX);
    await t.core.issuance.issue("east", {}, TEST_CTX);
    expect((await t.app.inject({ url: "/metrics" })).body).toContain('cluster="east"');
    await t.core.revocation.decommission("east", TEST_CTX);
    t.clock.advance(DAY_MS);
    expect((await t.app.inject({ url: "/metrics" })).body).not.toContain('cluster="east"');
  });
});

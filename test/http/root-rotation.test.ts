import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { sqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { coreOver, makeCsr, testApp, TEST_CTX, type TestApp } from "../helpers.js";

/** Root rotation over HTTP: the routes, both Secret formats, external custody, concurrency, the per-root CRL. */

async function call(t: TestApp, method: "GET" | "POST", url: string, payload?: object, token = t.admin) {
  const res = await t.app.inject({ method, url, headers: t.auth(token), ...(payload ? { payload } : {}) });
  return { status: res.statusCode, body: res.json() };
}

async function secretData(t: TestApp, cluster: string, format: "opaque" | "tls") {
  const res = await t.app.inject({ url: `/v1/clusters/${cluster}/cacerts?type=${format}&format=json`, headers: t.auth() });
  expect(res.statusCode, res.body).toBe(200);
  const manifest = res.json();
  return Object.fromEntries(Object.entries(manifest.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
}

const base = "/v1/trust-domains/cluster.local/root-rotation";

describe("root rotation routes", () => {
  it("rotates an RSA root with Opaque and tls Secrets byte for byte per phase, and serves each root's CRL", async () => {
    const t = await testApp();
    await t.core.trustDomains.create({ name: "cluster.local", root: { keyAlgorithm: "rsa-2048" } }, TEST_CTX);
    await t.core.clusters.register({ name: "east", trustDomain: "cluster.local" }, TEST_CTX);
    await t.core.issuance.issue("east", {}, TEST_CTX);
    const A = await t.core.trustDomains.bundlePem("cluster.local");
    const started = await call(t, "POST", base, { root: { keyAlgorithm: "rsa-3072" }, workloadCertTtlHours: 1 });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    expect(started.body).toMatchObject({ phase: "prepared", workloadCertTtlHours: 1, newRoot: { generation: 2, status: "prepared" }, clusters: [{ name: "east", rootCertPem: ["old"], prepared: { generation: 2 } }] });
    expect(started.body.newRoot.subject).toContain("OU=root-generation-2");
    const B = new x509.X509Certificate((await t.core.trustDomains.get("cluster.local")).roots[1]!.certPem).toString("pem") + "\n";
    expect((await call(t, "POST", `${base}/advance`, {})).body).toMatchObject({ movedTo: "trust-both", rotation: { phase: "trust-both", gate: { next: "sign-new", met: false, blocking: [{ cluster: "east", code: "never_observed" }] } } });
    for (const format of ["opaque", "tls"] as const) {
      const d = await secretData(t, "east", format);
      const roots = format === "tls" ? d["ca.crt"]! : d["root-cert.pem"]!;
      expect(roots).toBe(A + B);
    }
    await call(t, "POST", `${base}/advance`, { force: true, reason: "test" });
    await call(t, "POST", `${base}/clusters/east/switch`);
    for (const format of ["opaque", "tls"] as const) {
      const d = await secretData(t, "east", format);
      expect(format === "tls" ? d["ca.crt"] : d["root-cert.pem"]).toBe(A + B + B);
    }
    const status = await call(t, "GET", base);
    expect(status.body.clusters[0]).toMatchObject({ switched: true, active: { root: "new", generation: 2 }, prepared: null, rootCertPem: ["old", "new", "new"] });
    // The new root's CRL is where its intermediates' distribution point says; the first root's stays at /crl.
    const newRootSerial = status.body.newRoot.serial;
    const crl = await t.app.inject({ url: `/v1/trust-domains/cluster.local/roots/${newRootSerial}/crl` });
    expect(crl.statusCode).toBe(200);
    expect(new x509.X509Crl(new Uint8Array(crl.rawPayload)).issuer).toBe(status.body.newRoot.subject);
    const first = await t.app.inject({ url: "/v1/trust-domains/cluster.local/crl" });
    expect(new x509.X509Crl(new Uint8Array(first.rawPayload)).issuer).toBe(status.body.oldRoot.subject);
    // With a public URL, an intermediate under the new root points at that root's own CRL.
    const { core: withUrl } = coreOver(sqliteStore(t.db), t.clock, undefined, { publicUrl: "https://ca.example.com" });
    const rotated = await withUrl.issuance.issue("east", {}, TEST_CTX);
    const cdp = new x509.X509Certificate(rotated.record.certPem).getExtension(x509.CRLDistributionPointsExtension)!;
    expect(cdp.distributionPoints[0]!.distributionPoint!.fullName![0]!.uniformResourceIdentifier).toBe(`https://ca.example.com/v1/trust-domains/cluster.local/roots/${newRootSerial}/crl`);
  });

  it("asks an external-custody cluster for a CSR, prepares from it, and gates on it", async () => {
    const t = await testApp();
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    await t.core.clusters.register({ name: "ext", trustDomain: "cluster.local" }, TEST_CTX);
    await t.core.issuance.issue("ext", { csrPem: (await makeCsr()).pem }, TEST_CTX);
    const started = await call(t, "POST", base, {});
    expect(started.body.clusters).toEqual([expect.objectContaining({ name: "ext", custody: "external", prepared: null })]);
    await call(t, "POST", `${base}/advance`, {});
    expect((await call(t, "GET", base)).body.gate.blocking).toEqual([expect.objectContaining({ cluster: "ext", code: "csr_required" })]);
    const bad = await call(t, "POST", `${base}/clusters/ext/csr`, { csrPem: "not a csr" });
    expect(bad.status).toBe(400);
    const csr = await call(t, "POST", `${base}/clusters/ext/csr`, { csrPem: (await makeCsr()).pem });
    expect([csr.status, csr.body.status, csr.body.rootSerial]).toEqual([201, "prepared", started.body.newRoot.serial]);
    expect((await call(t, "POST", `${base}/clusters/ext/csr`, { csrPem: (await makeCsr()).pem })).body.code).toBe("root_rotation_step");
    expect((await call(t, "GET", base)).body.gate.blocking).toEqual([expect.objectContaining({ cluster: "ext", code: "never_observed" })]);
  });

  it("moves exactly one phase under concurrent advances, and names refusals", async () => {
    const t = await testApp();
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    await t.core.clusters.register({ name: "east", trustDomain: "cluster.local" }, TEST_CTX);
    await t.core.issuance.issue("east", {}, TEST_CTX);
    expect((await call(t, "GET", base)).body.code).toBe("root_rotation_not_found");
    await call(t, "POST", base, {});
    expect((await call(t, "POST", base, {})).body.code).toBe("root_rotation_in_progress");
    const results = await Promise.all(Array.from({ length: 4 }, () => call(t, "POST", `${base}/advance`, {})));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status !== 200).map((r) => r.body.code).every((c) => c === "root_rotation_conflict" || c === "gate_not_met")).toBe(true);
    expect((await call(t, "GET", base)).body.history.map((h: { phase: string }) => h.phase)).toEqual(["prepared", "trust-both"]);
    const metrics = (await t.app.inject({ url: "/metrics" })).body;
    expect(metrics).toContain('meshroot_root_rotation_phase{trust_domain="cluster.local",phase="trust-both"} 1');
    expect(metrics).not.toContain('phase="prepared"} 1');
    const refused = await call(t, "POST", `${base}/advance`, {});
    expect([refused.status, refused.body.code, refused.body.errors]).toEqual([409, "gate_not_met", [{ path: "clusters.east", message: expect.stringMatching(/^never_observed/) }]]);
    expect((await call(t, "POST", `${base}/advance`, { force: true })).body.code).toBe("validation_failed");
    expect((await call(t, "POST", `${base}/clusters/east/switch`)).body.code).toBe("root_rotation_step");
    const auditor = (await t.core.tokens.create({ name: "aud", role: "auditor" }, TEST_CTX)).secret;
    expect((await call(t, "GET", base, undefined, auditor)).status).toBe(200);
    expect((await call(t, "POST", `${base}/advance`, {}, auditor)).status).toBe(403);
  });
});

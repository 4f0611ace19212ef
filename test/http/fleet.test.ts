import { describe, expect, it } from "vitest";
import { DAY_MS } from "../../src/clock.js";
import { testApp, TEST_CTX, type TestApp } from "../helpers.js";

/** Two trust domains: east and west in cluster.local (both issued), far in other.example (pending). */
async function fleet() {
  const t = await testApp();
  await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
  await t.core.trustDomains.create({ name: "other.example" }, TEST_CTX);
  for (const name of ["east", "west"]) {
    await t.core.clusters.register({ name, trustDomain: "cluster.local" }, TEST_CTX);
    await t.core.issuance.issue(name, {}, TEST_CTX);
  }
  await t.core.clusters.register({ name: "far", trustDomain: "other.example" }, TEST_CTX);
  return t;
}

/** What the cluster's cacerts Secret holds now: the files istiod loads, with ca-crl.pem. */
async function secretFiles(t: TestApp, cluster: string) {
  const { record, files } = await t.core.issuance.activeFiles(cluster, TEST_CTX);
  const crl = await t.core.revocation.caCrlBundle(record.trustDomain);
  return { record, files: { ...files, "ca-crl.pem": crl.pem } };
}

type Files = Awaited<ReturnType<typeof secretFiles>>["files"];
const report = (f: Files) => ({ rootCertPem: f["root-cert.pem"], caCertPem: f["ca-cert.pem"], crlPem: f["ca-crl.pem"], istioVersion: "1.27.2", multiRoot: true, ambient: false });

async function observe(t: TestApp, cluster: string, payload: object | string, token = t.admin) {
  const res = await t.app.inject({
    method: "PUT",
    url: `/v1/clusters/${cluster}/observation`,
    headers: { ...t.auth(token), "content-type": "application/json" },
    payload: typeof payload === "string" ? payload : JSON.stringify(payload),
  });
  return { status: res.statusCode, body: res.json() as { state?: string; code?: string; trust: { state: string; reasons: Record<string, unknown>[] } } & Record<string, unknown> };
}

const observationRows = (t: TestApp) => (t.db.prepare("SELECT COUNT(*) AS n FROM observations").get() as { n: number }).n;
const codes = (b: { trust: { reasons: { code?: unknown }[] } }) => b.trust.reasons.map((r) => r.code);

async function fleetList(t: TestApp, query = "") {
  const res = await t.app.inject({ url: `/v1/fleet${query}`, headers: t.auth() });
  expect(res.statusCode, res.body).toBe(200);
  return res.json() as { items: ({ name: string; trust: { state: string; reasons: { code: string }[] } } & Record<string, unknown>)[]; nextCursor: string | null };
}

describe("PUT /v1/clusters/{name}/observation", () => {
  it("takes raw PEM files: the cacerts Secret's own files are converged, stored, and audited by fingerprint only", async () => {
    const t = await fleet();
    const { record, files } = await secretFiles(t, "east");
    const { status, body } = await observe(t, "east", report(files));
    expect(status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ name: "east", trustDomain: "cluster.local", status: "active", generation: 1, istioVersion: "1.27.2", observationAgeSeconds: 0, trust: { state: "converged", reasons: [] } });
    expect(body.lastObservedAt).toBe(t.clock.now().toISOString());
    expect(Date.parse(String(body.crlNextUpdate))).toBeGreaterThan(t.clock.now().getTime() + 6 * DAY_MS);
    const row = t.db.prepare("SELECT * FROM observations").get() as Record<string, unknown>;
    expect(row).toMatchObject({ cluster: "east", root_cert_pem: files["root-cert.pem"], ca_cert_pem: files["ca-cert.pem"], crl_pem: files["ca-crl.pem"], multi_root: 1, ambient: 0, source: "json" });
    const [event] = await t.core.audit.list({ action: "cluster.observe" }, { limit: 10 });
    const root = (await t.core.trustDomains.get("cluster.local")).roots[0]!;
    expect(event).toMatchObject({ cluster: "east", trustDomain: "cluster.local", details: { source: "json", rootFingerprints: [root.fingerprintSha256], caCertFingerprint: record.fingerprintSha256 } });
    expect(JSON.stringify(event)).not.toContain("BEGIN");
  });

  it("takes a Kubernetes ConfigMap as JSON, and a CRL-only ConfigMap keeps the last reported bundle", async () => {
    const t = await fleet();
    const { files } = await secretFiles(t, "east");
    const crlOnly = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "istio-ca-crl", namespace: "istio-system" }, data: { "ca-crl.pem": files["ca-crl.pem"] } };
    expect((await observe(t, "east", crlOnly)).body.code).toBe("validation_failed");
    const rootCm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "istio-ca-root-cert", namespace: "istio-system" }, data: { "root-cert.pem": files["root-cert.pem"] } };
    const first = await observe(t, "east", rootCm);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    expect(first.body.trust).toEqual({ state: "converged", reasons: [] });
    expect(first.body.crlNextUpdate).toBeNull();
    const second = await observe(t, "east", crlOnly);
    expect(second.body.trust.state).toBe("converged");
    const rows = t.db.prepare("SELECT source, root_cert_pem, crl_pem FROM observations ORDER BY id").all();
    expect(rows).toEqual([
      { source: "configmap", root_cert_pem: files["root-cert.pem"], crl_pem: null },
      { source: "configmap", root_cert_pem: files["root-cert.pem"], crl_pem: files["ca-crl.pem"] },
    ]);
  });

  it("refuses any body holding a private key with 422, stores nothing and writes the key in no audit event", async () => {
    const t = await fleet();
    const { files } = await secretFiles(t, "east");
    const key = files["ca-key.pem"]!;
    const keyBody = key.split("\n")[1]!;
    const bodies = [
      { ...report(files), caCertPem: files["ca-cert.pem"] + key },
      { rootCertPem: files["root-cert.pem"], caKeyPem: key },
      { kind: "ConfigMap", data: { "root-cert.pem": files["root-cert.pem"], "ca-key.pem": key } },
      JSON.stringify({ rootCertPem: files["root-cert.pem"] }).replace("}", `,"x":${JSON.stringify(key).replace("PRIVATE", "\\u0050RIVATE")}}`),
    ];
    for (const b of bodies) {
      const { status, body } = await observe(t, "east", b);
      expect([status, body.code]).toEqual([422, "private_key_in_body"]);
    }
    expect(observationRows(t)).toBe(0);
    const events = JSON.stringify(await t.core.audit.list({}, { limit: 1000 }));
    expect(events).not.toContain("PRIVATE KEY");
    expect(events).not.toContain(keyBody);
  });

  it("refuses what is not a certificate bundle", async () => {
    const t = await fleet();
    const { files } = await secretFiles(t, "east");
    expect((await observe(t, "east", { caCertPem: files["ca-cert.pem"] })).body.code).toBe("validation_failed");
    expect((await observe(t, "east", { rootCertPem: files["ca-crl.pem"] })).body.code).toBe("invalid_pem");
    expect((await observe(t, "east", { rootCertPem: files["root-cert.pem"], crlPem: files["root-cert.pem"] })).body.code).toBe("invalid_pem");
    expect((await observe(t, "east", "not json")).body.code).toBe("validation_failed");
    expect((await observe(t, "ghost", { rootCertPem: files["root-cert.pem"] })).body.code).toBe("cluster_not_found");
    expect((await observe(t, "east", { rootCertPem: files["root-cert.pem"] + "\n".repeat(1024 * 1024) })).status).toBe(413);
    expect(observationRows(t)).toBe(0);
    // ca-crl.pem grows with the fleet: observations may be larger than other bodies (64 KiB).
    const big = await observe(t, "east", { rootCertPem: files["root-cert.pem"] + "\n".repeat(200 * 1024) });
    expect([big.status, codes(big.body)]).toEqual([200, ["bundle_mismatch"]]);
  });

  it("reports every drift reason end to end: rotation, a foreign bundle, a reordered bundle, CRLs near and past nextUpdate", async () => {
    const t = await fleet();
    const before = await secretFiles(t, "east");
    expect((await observe(t, "east", report(before.files))).body.trust.state).toBe("converged");

    // East rotates; the cluster still runs the old Secret.
    const rotated = await t.core.issuance.issue("east", {}, TEST_CTX);
    const stale = (await observe(t, "east", report(before.files))).body;
    expect(stale.trust.state).toBe("drift");
    expect(stale.trust.reasons).toEqual([
      expect.objectContaining({ code: "signing_not_active", observed: before.record.fingerprintSha256, expected: rotated.record.fingerprintSha256 }),
      expect.objectContaining({ code: "crl_missing_issuer", issuers: [{ serial: rotated.record.serial, kind: "intermediate", cluster: "east" }] }),
    ]);
    // West signs with its own intermediate but must now load the CRL of east's new one too.
    const west = await secretFiles(t, "west");
    expect(codes((await observe(t, "west", { ...report(west.files), crlPem: before.files["ca-crl.pem"] })).body)).toEqual(["crl_missing_issuer"]);
    const after = await secretFiles(t, "east");
    expect((await observe(t, "east", report(after.files))).body.trust).toEqual({ state: "converged", reasons: [] });

    const foreign = await t.core.trustDomains.bundlePem("other.example");
    const mismatch = (await observe(t, "east", { ...report(after.files), rootCertPem: foreign })).body;
    expect(mismatch.trust.reasons).toEqual([expect.objectContaining({ code: "bundle_mismatch", sameSet: false })]);
    const doubled = (await observe(t, "east", { ...report(after.files), rootCertPem: after.files["root-cert.pem"].repeat(2) })).body;
    expect(doubled.trust.reasons).toEqual([expect.objectContaining({ code: "bundle_mismatch", sameSet: true })]);

    const next = Date.parse(String((await observe(t, "east", report(after.files))).body.crlNextUpdate));
    t.clock.set(new Date(next - 12 * 3_600_000));
    const expiring = (await observe(t, "east", report(after.files))).body;
    expect(expiring.trust.state).toBe("drift");
    expect(new Set(codes(expiring))).toEqual(new Set(["crl_expiring"]));
    t.clock.set(new Date(next + 1000));
    expect(new Set(codes((await observe(t, "east", report(after.files))).body))).toEqual(new Set(["crl_expired"]));
  });

  it("lets a provisioner report only for clusters and trust domains in its scope; nothing is stored when refused", async () => {
    const t = await fleet();
    const { files } = await secretFiles(t, "east");
    const token = async (clusters: string[], trustDomains: string[]) => (await t.core.tokens.create({ name: "p", role: "provisioner", clusterPatterns: clusters, trustDomains }, TEST_CTX)).secret;
    const eastOnly = await token(["east"], ["cluster.local"]);
    const anyClusterLocal = await token(["*"], ["cluster.local"]);
    const auditor = (await t.core.tokens.create({ name: "a", role: "auditor" }, TEST_CTX)).secret;
    const body = { rootCertPem: files["root-cert.pem"] };
    expect((await observe(t, "west", body, eastOnly)).status).toBe(403);
    expect((await observe(t, "far", body, anyClusterLocal)).status).toBe(403);
    expect((await observe(t, "east", body, auditor)).status).toBe(403);
    expect(observationRows(t)).toBe(0);
    expect((await observe(t, "east", body, eastOnly)).status).toBe(200);
    expect((await observe(t, "west", body, anyClusterLocal)).status).toBe(200);
    expect(observationRows(t)).toBe(2);
  });
});

describe("GET /v1/fleet", () => {
  it("shows never-observed clusters as unknown and old observations as stale", async () => {
    const t = await fleet();
    const { files } = await secretFiles(t, "east");
    await observe(t, "east", report(files));
    const now = await fleetList(t);
    expect(now.items.map((i) => [i.name, i.trust.state])).toEqual([["east", "converged"], ["far", "unknown"], ["west", "unknown"]]);
    expect(now.items[1]).toMatchObject({ status: "pending", generation: null, notAfter: null, lastObservedAt: null, observationAgeSeconds: null, trust: { reasons: [{ code: "never_observed" }] } });
    t.clock.advance(DAY_MS + 1000);
    const later = (await fleetList(t, "?trustDomain=cluster.local")).items[0]!;
    expect(later).toMatchObject({ name: "east", observationAgeSeconds: 86_401, trust: { state: "stale", reasons: [{ code: "observation_stale" }] } });
  });

  it("filters by trust domain and state, and pages with a cursor", async () => {
    const t = await fleet();
    const east = await secretFiles(t, "east");
    const west = await secretFiles(t, "west");
    await observe(t, "east", report(east.files));
    await observe(t, "west", { ...report(west.files), caCertPem: east.files["ca-cert.pem"] });
    expect((await fleetList(t, "?trustDomain=other.example")).items.map((i) => i.name)).toEqual(["far"]);
    expect((await fleetList(t, "?state=drift")).items.map((i) => [i.name, i.trust.reasons.map((r) => r.code)])).toEqual([["west", ["signing_not_active"]]]);
    expect((await fleetList(t, "?state=converged&trustDomain=other.example")).items).toEqual([]);
    const names: string[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const page = await fleetList(t, `?limit=1${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.items.length).toBe(1);
      names.push(page.items[0]!.name);
      cursor = page.nextCursor;
    }
    expect(names).toEqual(["east", "far", "west"]);
    // A state filter reads on past clusters in other states: the page is full, and the last.
    const unknownPage = await fleetList(t, "?state=unknown&limit=1");
    expect([unknownPage.items.map((i) => i.name), unknownPage.nextCursor]).toEqual([["far"], null]);
    expect((await t.app.inject({ url: "/v1/fleet?state=bogus", headers: t.auth() })).statusCode).toBe(400);
    expect((await t.app.inject({ url: "/v1/fleet" })).statusCode).toBe(401);
  });

  it("filters by a Kubernetes label selector, and refuses one it cannot read", async () => {
    const t = await fleet();
    await t.core.clusters.update("east", { labels: { env: "prod", region: "eu" } }, TEST_CTX);
    await t.core.clusters.update("west", { labels: { env: "staging", region: "us", legacy: "yes" } }, TEST_CTX);
    const names = async (selector: string) => (await fleetList(t, `?selector=${encodeURIComponent(selector)}`)).items.map((i) => i.name);
    expect(await names("env=prod")).toEqual(["east"]);
    expect(await names("env==prod")).toEqual(["east"]);
    expect(await names("env!=prod")).toEqual(["far", "west"]);
    expect(await names("env")).toEqual(["east", "west"]);
    expect(await names("!legacy")).toEqual(["east", "far"]);
    expect(await names("region in (us, eu),env notin (staging)")).toEqual(["east"]);
    expect(await names("env=prod,region=us")).toEqual([]);
    // Combined with a page size: reads on past clusters that do not match.
    const page = await fleetList(t, `?limit=1&selector=${encodeURIComponent("env=staging")}`);
    expect([page.items.map((i) => i.name), page.nextCursor]).toEqual([["west"], null]);
    for (const bad of ["env=prod,", "region in (eu", "=prod", "env=pr od", "a b c"]) {
      const res = await t.app.inject({ url: `/v1/fleet?selector=${encodeURIComponent(bad)}`, headers: t.auth() });
      expect([bad, res.statusCode, res.json().code]).toEqual([bad, 400, "validation_failed"]);
      expect(res.json().errors[0].path).toBe("query.selector");
    }
  });
});

describe("GET /v1/clusters/{name}/observation", () => {
  it("shows what the cluster should load beside what it reported, for any token", async () => {
    const t = await fleet();
    const east = await secretFiles(t, "east");
    const west = await secretFiles(t, "west");
    const unobserved = await t.app.inject({ url: "/v1/clusters/east/observation", headers: t.auth() });
    expect(unobserved.statusCode).toBe(200);
    expect(unobserved.json()).toMatchObject({ name: "east", trust: { state: "unknown" }, observed: null });
    await observe(t, "east", { ...report(east.files), caCertPem: west.files["ca-cert.pem"] });
    const { secret: auditor } = await t.core.tokens.create({ name: "aud", role: "auditor" }, TEST_CTX);
    const res = await t.app.inject({ url: "/v1/clusters/east/observation", headers: t.auth(auditor) });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    const td = await t.core.trustDomains.get("cluster.local");
    const root = td.roots[0]!;
    expect(body.desired.roots).toEqual([{ fingerprintSha256: root.fingerprintSha256, serial: root.serial, subject: expect.stringContaining("CN="), notAfter: root.notAfter.toISOString() }]);
    expect(body.desired.activeIntermediate).toMatchObject({ serial: east.record.serial, fingerprintSha256: east.record.fingerprintSha256 });
    expect(body.desired.crlIssuers.map((i: { serial: string }) => i.serial).sort()).toEqual([root.serial, east.record.serial, west.record.serial].sort());
    expect(body.observed.roots.map((r: { fingerprintSha256: string }) => r.fingerprintSha256)).toEqual([root.fingerprintSha256]);
    expect(body.observed.caCert).toMatchObject({ serial: west.record.serial, fingerprintSha256: west.record.fingerprintSha256 });
    expect(body.observed.crls).toHaveLength(3);
    expect(body.observed.crls.every((c: { nextUpdate: string; revoked: number }) => Date.parse(c.nextUpdate) > t.clock.now().getTime() && c.revoked === 0)).toBe(true);
    expect(body).toMatchObject({ observed: { istioVersion: "1.27.2", multiRoot: true, ambient: false, source: "json" } });
    expect(body.trust).toMatchObject({ state: "drift", reasons: [{ code: "signing_not_active", observed: west.record.fingerprintSha256, expected: east.record.fingerprintSha256 }] });
    expect(JSON.stringify(body)).not.toMatch(/PRIVATE KEY|BEGIN/);
    expect((await t.app.inject({ url: "/v1/clusters/ghost/observation", headers: t.auth() })).json().code).toBe("cluster_not_found");
    expect((await t.app.inject({ url: "/v1/clusters/east/observation" })).statusCode).toBe(401);
  });

  it("parses an observation stored before facts were kept the same way as a new one", async () => {
    const t = await fleet();
    const east = await secretFiles(t, "east");
    await observe(t, "east", { ...report(east.files), crlPem: east.files["ca-crl.pem"].split("-----END X509 CRL-----")[0] + "-----END X509 CRL-----\n" });
    const before = (await t.app.inject({ url: "/v1/clusters/east/observation", headers: t.auth() })).json();
    expect(before.trust.reasons.map((r: { code: string }) => r.code)).toEqual(["crl_missing_issuer"]);
    t.db.prepare("UPDATE observations SET facts = NULL").run();
    const after = (await t.app.inject({ url: "/v1/clusters/east/observation", headers: t.auth() })).json();
    expect(after).toEqual(before);
    expect((await fleetList(t)).items.find((i) => i.name === "east")!.trust).toEqual(before.trust);
  });
});

describe("trust-state metrics", () => {
  it("exposes 1 for each cluster's current trust state and the age of its latest observation", async () => {
    const t = await fleet();
    const { files } = await secretFiles(t, "east");
    await observe(t, "east", report(files));
    await observe(t, "west", report(files));
    t.clock.advance(90_000);
    const text = (await t.app.inject({ url: "/metrics" })).body;
    const line = (series: string) => text.split("\n").find((l) => l.startsWith(`${series} `))?.split(" ")[1];
    expect(line('meshroot_cluster_trust_state{cluster="east",trust_domain="cluster.local",state="converged"}')).toBe("1");
    expect(line('meshroot_cluster_trust_state{cluster="east",trust_domain="cluster.local",state="drift"}')).toBe("0");
    expect(line('meshroot_cluster_trust_state{cluster="west",trust_domain="cluster.local",state="drift"}')).toBe("1");
    expect(line('meshroot_cluster_trust_state{cluster="far",trust_domain="other.example",state="unknown"}')).toBe("1");
    expect(line('meshroot_cluster_observation_age_seconds{cluster="east",trust_domain="cluster.local"}')).toBe("90");
    expect(text).not.toContain('meshroot_cluster_observation_age_seconds{cluster="far"');
  });
});

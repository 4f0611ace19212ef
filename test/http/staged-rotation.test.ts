import { describe, expect, it } from "vitest";
import { testApp, TEST_CTX, type TestApp } from "../helpers.js";

/** Staged rotation over HTTP: the caCrl setting, 202 pending_peers, activation, the run report. */

async function call(t: TestApp, method: "GET" | "POST" | "PATCH" | "PUT", url: string, payload?: object, token = t.admin) {
  const res = await t.app.inject({ method, url, headers: t.auth(token), ...(payload ? { payload } : {}) });
  return { status: res.statusCode, body: res.json(), headers: res.headers };
}

async function observeRefreshed(t: TestApp, cluster: string) {
  const res = await t.app.inject({ url: `/v1/clusters/${cluster}/cacerts?crl=true&format=json`, headers: t.auth() });
  const data = Object.fromEntries(Object.entries(res.json().data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
  const put = await call(t, "PUT", `/v1/clusters/${cluster}/observation`, { rootCertPem: data["root-cert.pem"], caCertPem: data["ca-cert.pem"], crlPem: data["ca-crl.pem"] });
  expect(put.status, JSON.stringify(put.body)).toBe(200);
}

async function mesh() {
  const t = await testApp(new Date().toISOString());
  const created = await call(t, "POST", "/v1/trust-domains", { name: "cluster.local", caCrl: true });
  expect([created.status, created.body.caCrl]).toEqual([201, true]);
  for (const name of ["east", "west"]) {
    await t.core.clusters.register({ name, trustDomain: "cluster.local" }, TEST_CTX);
    await t.core.issuance.issue(name, {}, TEST_CTX);
  }
  const { secret } = await t.core.tokens.create({ name: "ci", role: "provisioner", clusterPatterns: ["*"], trustDomains: ["*"] }, TEST_CTX);
  return { t, provisioner: secret };
}

describe("staged rotation routes", () => {
  it("answers 202 pending_peers without a Secret, then 200 with it once the peer reported the CRL", async () => {
    const { t, provisioner } = await mesh();
    await observeRefreshed(t, "west");
    const pending = await call(t, "POST", "/v1/clusters/east/intermediates", {}, provisioner);
    expect(pending.status, JSON.stringify(pending.body)).toBe(202);
    expect(pending.body).toMatchObject({
      status: "pending_peers",
      intermediate: { cluster: "east", generation: 2, status: "prepared" },
      pendingPeers: [{ cluster: "west", code: "crl_not_loaded" }],
      leadEndsAt: null,
    });
    expect(pending.body.cacerts).toBeUndefined();
    const serial = pending.body.intermediate.serial;
    expect(pending.body.next).toContain(`/v1/clusters/east/intermediates/${serial}/activate`);

    const refused = await call(t, "POST", `/v1/clusters/east/intermediates/${serial}/activate`, {}, provisioner);
    expect([refused.status, refused.body.code, refused.body.errors]).toEqual([409, "gate_not_met", [expect.objectContaining({ path: "peers.west" })]]);
    // Only an admin may force, and only with a reason.
    expect((await call(t, "POST", `/v1/clusters/east/intermediates/${serial}/activate`, { force: true, reason: "x" }, provisioner)).status).toBe(403);
    expect((await call(t, "POST", `/v1/clusters/east/intermediates/${serial}/activate`, { force: true })).body.code).toBe("validation_failed");

    const waiting = (await t.app.inject({ url: "/metrics" })).body;
    expect(waiting).toMatch(new RegExp(`meshroot_intermediate_prepared_timestamp_seconds\\{cluster="east",trust_domain="cluster.local",serial="${serial}"\\} \\d+`));
    await observeRefreshed(t, "west");
    const activated = await call(t, "POST", `/v1/clusters/east/intermediates/${serial}/activate`, {}, provisioner);
    expect(activated.status, JSON.stringify(activated.body)).toBe(200);
    expect(activated.body).toMatchObject({ intermediate: { serial, status: "active" }, cacerts: { "ca-key.pem": expect.stringContaining("PRIVATE KEY") } });
    expect((await call(t, "POST", `/v1/clusters/east/intermediates/${serial}/activate`, {}, provisioner)).body.code).toBe("not_prepared");
    expect((await t.app.inject({ url: "/metrics" })).body).not.toContain("meshroot_intermediate_prepared_timestamp_seconds{");
    expect((await call(t, "POST", `/v1/clusters/east/intermediates/00ff/activate`, {}, provisioner)).body.code).toBe("certificate_not_found");
  });

  it("reports pending rotations in the run report, and changes the setting by PATCH (admin only, audited)", async () => {
    const { t, provisioner } = await mesh();
    await observeRefreshed(t, "east");
    const rotateAfter = (await t.core.issuance.activeFiles("west", TEST_CTX)).record.rotateAfter;
    t.clock.set(new Date(rotateAfter.getTime() + 1000));
    const run = await call(t, "POST", "/v1/rotations/run", {}, provisioner);
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body.pending.map((p: { cluster: string; prepared: boolean; waitingFor: { cluster: string; code: string }[] }) => [p.cluster, p.prepared, p.waitingFor.map((w) => `${w.cluster}:${w.code}`)])).toEqual([
      ["east", true, ["west:never_observed"]],
      ["west", true, ["east:crl_not_loaded"]],
    ]);
    expect(run.body.rotated).toEqual([]);

    expect((await call(t, "PATCH", "/v1/trust-domains/cluster.local", { caCrl: false }, provisioner)).status).toBe(403);
    expect((await call(t, "PATCH", "/v1/trust-domains/cluster.local", { caCrl: "yes" })).status).toBe(400);
    expect((await call(t, "PATCH", "/v1/trust-domains/nowhere.local", { caCrl: true })).body.code).toBe("trust_domain_not_found");
    const patched = await call(t, "PATCH", "/v1/trust-domains/cluster.local", { caCrl: false });
    expect([patched.status, patched.body.caCrl]).toEqual([200, false]);
    expect((await call(t, "GET", "/v1/trust-domains/cluster.local")).body.caCrl).toBe(false);
    const audit = await call(t, "GET", "/v1/audit?action=trust_domain.update");
    expect(audit.body.items[0]).toMatchObject({ action: "trust_domain.update", details: { caCrl: { from: true, to: false } } });
  });
});

import { describe, expect, it } from "vitest";
import { testCore, TEST_CTX } from "../helpers.js";
import { meshFailures, onDisk as onDiskFiles } from "../mesh.js";

/**
 * Root rotation end to end in the core: each phase's files (byte containment, order, the
 * repeated root), cross-cluster verification by openssl with CRLs, gates, force, rollback.
 */

type T = ReturnType<typeof testCore>;
const HOUR = 3_600_000;

async function secret(t: T, cluster: string) {
  const { record, files } = await t.core.issuance.activeFiles(cluster, TEST_CTX);
  const crl = await t.core.revocation.caCrlBundle(record.trustDomain);
  return { record, files: { ...files, "ca-crl.pem": crl.pem } };
}
type Secret = Awaited<ReturnType<typeof secret>>;

const onDisk = (s: Secret) => onDiskFiles(s.files);
const meshWorks = (t: T, dirsByCluster: Record<string, string>) => meshFailures(t.clock.now(), dirsByCluster);

async function report(t: T, cluster: string, s: Secret, over: Record<string, unknown> = {}) {
  await t.core.fleet.observe(cluster, JSON.stringify({ rootCertPem: s.files["root-cert.pem"], caCertPem: s.files["ca-cert.pem"], crlPem: s.files["ca-crl.pem"], multiRoot: true, ...over }), TEST_CTX);
}

async function fleet() {
  const t = testCore(new Date().toISOString());
  const td = await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
  for (const name of ["east", "west"]) {
    await t.core.clusters.register({ name, trustDomain: "cluster.local" }, TEST_CTX);
    await t.core.issuance.issue(name, {}, TEST_CTX);
  }
  return { t, a: td.roots[0]! };
}

const pems = (text: string) => text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g)!;

describe("root rotation", () => {
  it("walks steady → prepared → trust-both → sign-new → drop-old → done, each phase's files exactly as Istio needs them", async () => {
    const { t, a } = await fleet();
    const steady = { east: await secret(t, "east"), west: await secret(t, "west") };
    const A = a.certPem;
    expect(steady.east.files["root-cert.pem"]).toBe(A);

    // prepared: a new root and an intermediate under it for every escrowed cluster; nothing clusters receive changes.
    const started = await t.core.rootRotation.start("cluster.local", {}, TEST_CTX);
    expect(started.rotation.phase).toBe("prepared");
    const B = started.newRoot.certPem;
    expect(started.newRoot).toMatchObject({ status: "prepared", generation: 2 });
    expect(started.clusters.map((c) => [c.name, c.prepared?.rootSerial, c.prepared?.status])).toEqual([
      ["east", started.newRoot.serial, "prepared"],
      ["west", started.newRoot.serial, "prepared"],
    ]);
    const prepared = await secret(t, "east");
    expect(prepared.files).toEqual(steady.east.files);
    expect(await t.core.trustDomains.bundlePem("cluster.local")).toBe(A);

    // trust-both: A's bytes first, unchanged, then B; B's CRL and the prepared intermediates' CRLs join ca-crl.pem.
    const tb = await t.core.rootRotation.advance("cluster.local", {}, TEST_CTX);
    expect(tb.movedTo).toBe("trust-both");
    const both = { east: await secret(t, "east"), west: await secret(t, "west") };
    expect(both.east.files["root-cert.pem"]).toBe(A + B);
    expect(both.east.files["root-cert.pem"].startsWith(steady.east.files["root-cert.pem"])).toBe(true);
    expect(both.east.files["ca-cert.pem"]).toBe(steady.east.files["ca-cert.pem"]);
    expect(both.east.files["ca-crl.pem"].match(/BEGIN X509 CRL/g)).toHaveLength(2 + 2 + 2);
    expect(await t.core.trustDomains.bundlePem("cluster.local")).toBe(A + B);
    const dirsBoth = { east: onDisk(both.east), west: onDisk(both.west) };
    expect(meshWorks(t, dirsBoth)).toEqual([]);

    // The gate to sign-new: every cluster observed with A ‖ B and B's CRLs.
    await expect(t.core.rootRotation.advance("cluster.local", {}, TEST_CTX)).rejects.toMatchObject({
      code: "gate_not_met",
      errors: [{ path: "clusters.east", message: expect.stringMatching(/^never_observed/) }, { path: "clusters.west", message: expect.stringMatching(/^never_observed/) }],
    });
    await report(t, "east", both.east);
    await report(t, "west", steady.west);
    await expect(t.core.rootRotation.advance("cluster.local", {}, TEST_CTX)).rejects.toMatchObject({ errors: [{ path: "clusters.west", message: expect.stringMatching(/^bundle_not_loaded/) }] });
    await report(t, "west", both.west, { crlPem: steady.west.files["ca-crl.pem"] });
    await expect(t.core.rootRotation.advance("cluster.local", {}, TEST_CTX)).rejects.toMatchObject({ errors: [{ path: "clusters.west", message: expect.stringMatching(/^crl_not_loaded/) }] });
    await report(t, "west", both.west);
    const sn = await t.core.rootRotation.advance("cluster.local", {}, TEST_CTX);
    expect(sn.movedTo).toBe("sign-new");

    // sign-new, canary: east signs with its intermediate under B, its bundle repeats B; west is unchanged.
    await t.core.rootRotation.switchCluster("cluster.local", "east", TEST_CTX);
    const canary = { east: await secret(t, "east"), west: await secret(t, "west") };
    expect(canary.east.files["root-cert.pem"]).toBe(A + B + B);
    expect(canary.east.files["cert-chain.pem"]).toBe(canary.east.files["ca-cert.pem"] + B);
    expect(canary.east.record.rootSerial).toBe(started.newRoot.serial);
    expect(canary.west.files["root-cert.pem"]).toBe(A + B);
    expect(canary.west.files["ca-cert.pem"]).toBe(steady.west.files["ca-cert.pem"]);
    const dirsCanary = { east: onDisk(canary.east), west: onDisk(canary.west), westBefore: dirsBoth.west, eastBefore: dirsBoth.east };
    expect(meshWorks(t, dirsCanary)).toEqual([]);

    // advance switches the rest first, then the gate: every cluster signing under B, and the workload lifetime passed.
    const rest = await t.core.rootRotation.advance("cluster.local", {}, TEST_CTX);
    expect([rest.movedTo, rest.switched]).toEqual([null, ["west"]]);
    const signNew = { east: await secret(t, "east"), west: await secret(t, "west") };
    expect(signNew.west.files["root-cert.pem"]).toBe(A + B + B);
    await report(t, "east", signNew.east);
    await report(t, "west", signNew.west);
    await expect(t.core.rootRotation.advance("cluster.local", {}, TEST_CTX)).rejects.toMatchObject({ code: "gate_not_met", errors: [{ path: "workloadCertTtl" }] });
    t.clock.advance(24 * HOUR + 1000);
    await report(t, "east", signNew.east);
    await report(t, "west", signNew.west);
    const dropOld = await t.core.rootRotation.advance("cluster.local", {}, TEST_CTX);
    expect(dropOld.movedTo).toBe("drop-old");

    // drop-old: B alone; only B's side in ca-crl.pem. Workloads under B verify everywhere.
    const dropped = { east: await secret(t, "east"), west: await secret(t, "west") };
    expect(dropped.east.files["root-cert.pem"]).toBe(B);
    expect(pems(dropped.east.files["cert-chain.pem"])[1]).toBe(B);
    expect(dropped.east.files["ca-crl.pem"].match(/BEGIN X509 CRL/g)).toHaveLength(1 + 2);
    expect(await t.core.trustDomains.bundlePem("cluster.local")).toBe(B);
    expect(meshWorks(t, { east: onDisk(dropped.east), west: onDisk(dropped.west) })).toEqual([]);

    await report(t, "east", dropped.east);
    await expect(t.core.rootRotation.advance("cluster.local", {}, TEST_CTX)).rejects.toMatchObject({ errors: [{ path: "clusters.west", message: expect.stringMatching(/^old_root_still_loaded/) }] });
    await report(t, "west", dropped.west);
    const done = await t.core.rootRotation.advance("cluster.local", {}, TEST_CTX);
    expect(done.movedTo).toBe("done");
    const roots = (await t.core.trustDomains.get("cluster.local")).roots;
    expect(roots.map((r) => [r.generation, r.status])).toEqual([[1, "retired"], [2, "active"]]);
    // After the rotation, issuance is under B and the bundle stays B.
    const next = await t.core.issuance.issue("east", {}, TEST_CTX);
    expect([next.record.rootSerial, next.files!["root-cert.pem"]]).toEqual([started.newRoot.serial, B]);
    expect(done.view.rotation.history.map((h) => h.phase)).toEqual(["prepared", "trust-both", "sign-new", "drop-old", "done"]);
    const actions = (await t.core.audit.list({ trustDomain: "cluster.local" }, { limit: 1000 })).map((e) => e.action).filter((a) => a.startsWith("root_rotation")).reverse();
    expect(actions).toEqual(["root_rotation.start", "root_rotation.advance", "root_rotation.advance", "root_rotation.switch", "root_rotation.switch", "root_rotation.advance", "root_rotation.advance"]);
  });
});

describe("root rotation: rollback, force, and intermediate rotation during it", () => {
  it("steps back from sign-new to the old intermediates, and every peer still accepts every workload", async () => {
    const { t, a } = await fleet();
    const steady = await secret(t, "west");
    await t.core.rootRotation.start("cluster.local", {}, TEST_CTX);
    await t.core.rootRotation.advance("cluster.local", {}, TEST_CTX);
    const before = { east: await secret(t, "east"), west: await secret(t, "west") };
    await t.core.rootRotation.advance("cluster.local", { force: true, reason: "canary" }, TEST_CTX);
    await t.core.rootRotation.switchCluster("cluster.local", "east", TEST_CTX);
    const switched = await secret(t, "east");
    const dirs = { eastNew: onDisk(switched), west: onDisk(await secret(t, "west")) };
    expect(meshWorks(t, dirs)).toEqual([]);

    const back = await t.core.rootRotation.rollback("cluster.local", "east's istiod did not reload", TEST_CTX);
    expect(back.rotation.phase).toBe("trust-both");
    const after = { east: await secret(t, "east"), west: await secret(t, "west") };
    // East signs with its old intermediate again, under A ‖ B: a subset of what it loaded in sign-new.
    expect(after.east.files["ca-cert.pem"]).toBe(before.east.files["ca-cert.pem"]);
    expect(after.east.files["root-cert.pem"]).toBe(a.certPem + back.newRoot.certPem);
    expect(switched.files["root-cert.pem"].startsWith(after.east.files["root-cert.pem"])).toBe(true);
    expect(back.clusters.find((c) => c.name === "east")).toMatchObject({ switched: false, prepared: { serial: switched.record.serial } });
    // A workload east signed under B before the rollback is still accepted (its intermediate stays trusted and CRL-covered).
    expect(meshWorks(t, { ...dirs, eastOld: onDisk(after.east), westAfter: onDisk(after.west) })).toEqual([]);

    expect((await t.core.rootRotation.rollback("cluster.local", undefined, TEST_CTX)).rotation.phase).toBe("prepared");
    expect((await secret(t, "west")).files).toEqual(steady.files);
    const gone = await t.core.rootRotation.rollback("cluster.local", undefined, TEST_CTX);
    expect(gone.rotation.phase).toBe("rolled-back");
    expect((await t.core.trustDomains.get("cluster.local")).roots.map((r) => r.status)).toEqual(["active", "retired"]);
    expect((await secret(t, "west")).files).toEqual(steady.files);
    await expect(t.core.rootRotation.rollback("cluster.local", undefined, TEST_CTX)).rejects.toMatchObject({ code: "root_rotation_not_found" });
    // A new rotation can start after a rolled-back one.
    expect((await t.core.rootRotation.start("cluster.local", {}, TEST_CTX)).newRoot.generation).toBe(3);
  });

  it("forces a gate with a reason, audits who had not converged, and refuses to step back from drop-old", async () => {
    const { t } = await fleet();
    await t.core.rootRotation.start("cluster.local", {}, TEST_CTX);
    await t.core.rootRotation.advance("cluster.local", {}, TEST_CTX);
    await expect(t.core.rootRotation.advance("cluster.local", { force: true }, TEST_CTX)).rejects.toMatchObject({ code: "validation_failed" });
    const forced = await t.core.rootRotation.advance("cluster.local", { force: true, reason: "root key compromised" }, TEST_CTX);
    expect([forced.movedTo, forced.forced.map((f) => [f.cluster, f.code])]).toEqual(["sign-new", [["east", "never_observed"], ["west", "never_observed"]]]);
    const [event] = await t.core.audit.list({ action: "root_rotation.force" }, { limit: 1 });
    expect(event!.details).toMatchObject({ from: "trust-both", to: "sign-new", reason: "root key compromised", notConverged: [{ cluster: "east", code: "never_observed" }, { cluster: "west", code: "never_observed" }] });
    await t.core.rootRotation.advance("cluster.local", {}, TEST_CTX); // switches both
    await t.core.rootRotation.advance("cluster.local", { force: true, reason: "emergency" }, TEST_CTX);
    await expect(t.core.rootRotation.rollback("cluster.local", undefined, TEST_CTX)).rejects.toMatchObject({ code: "root_rotation_step" });
  });

  it("keeps intermediate rotation working: under the old root before a cluster switches, under the new one after", async () => {
    const { t } = await fleet();
    const started = await t.core.rootRotation.start("cluster.local", {}, TEST_CTX);
    await t.core.rootRotation.advance("cluster.local", {}, TEST_CTX);
    const underA = await t.core.issuance.issue("east", {}, TEST_CTX);
    expect([underA.record.rootSerial, underA.record.generation, underA.files!["root-cert.pem"]]).toEqual([started.oldRoot.serial, 3, started.oldRoot.certPem + started.newRoot.certPem]);
    // The prepared one (generation 2) still waits; switching puts it in service over generation 3.
    await t.core.rootRotation.advance("cluster.local", { force: true, reason: "test" }, TEST_CTX);
    const v = await t.core.rootRotation.switchCluster("cluster.local", "east", TEST_CTX);
    const east = v.clusters.find((c) => c.name === "east")!;
    expect([east.active!.generation, east.active!.rootSerial, east.active!.supersedes]).toEqual([2, started.newRoot.serial, underA.record.serial]);
    const underB = await t.core.issuance.issue("east", {}, TEST_CTX);
    expect([underB.record.rootSerial, underB.record.generation, underB.record.supersedes]).toEqual([started.newRoot.serial, 4, east.active!.serial]);
    expect(underB.files!["root-cert.pem"]).toBe(started.oldRoot.certPem + started.newRoot.certPem + started.newRoot.certPem);
    // A cluster that rotated under the new root cannot be stepped back: the rollback says which.
    await expect(t.core.rootRotation.rollback("cluster.local", undefined, TEST_CTX)).rejects.toMatchObject({ code: "root_rotation_step", message: expect.stringContaining("east") });
  });
});

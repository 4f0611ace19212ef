import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import type { ObservedFacts } from "../../src/core/ports.js";
import { activationGate } from "../../src/core/staged-rotation.js";
import { DomainError } from "../../src/errors.js";
import { makeCsr, testCore, TEST_CTX } from "../helpers.js";
import { accepts, meshFailures, onDisk, verdict } from "../mesh.js";
import { signCrl } from "../x509/reference.js";

/**
 * Intermediate rotation that never breaks a peer: in a trust domain whose clusters load
 * ca-crl.pem, the next intermediate is prepared, its CRL goes to every peer, and it is
 * activated only once every peer was seen with it (or after the lead time, for peers that never
 * report). Checked with openssl as the peers' Envoys would check.
 */

type T = ReturnType<typeof testCore>;
const HOUR = 3_600_000;
const CLUSTERS = ["east", "west", "north"];

async function secret(t: T, cluster: string) {
  const { record, files } = await t.core.issuance.activeFiles(cluster, TEST_CTX);
  const crl = await t.core.revocation.caCrlBundle(record.trustDomain);
  return { record, files: { ...files, "ca-crl.pem": crl.pem } };
}
type Secret = Awaited<ReturnType<typeof secret>>;

async function secrets(t: T): Promise<Record<string, Secret>> {
  return Object.fromEntries(await Promise.all(CLUSTERS.map(async (c) => [c, await secret(t, c)] as const)));
}

async function report(t: T, cluster: string, s: Secret) {
  await t.core.fleet.observe(cluster, JSON.stringify({ rootCertPem: s.files["root-cert.pem"], caCertPem: s.files["ca-cert.pem"], crlPem: s.files["ca-crl.pem"] }), TEST_CTX);
}

async function mesh(caCrl = true) {
  const t = testCore(new Date().toISOString());
  await t.core.trustDomains.create({ name: "cluster.local", caCrl }, TEST_CTX);
  for (const name of CLUSTERS) {
    await t.core.clusters.register({ name, trustDomain: "cluster.local" }, TEST_CTX);
    expect((await t.core.issuance.issue(name, {}, TEST_CTX)).files).toBeDefined();
  }
  return t;
}

/** Authority key identifiers of the CRLs in a ca-crl.pem. */
function crlIssuerKeyIds(pem: string): string[] {
  return (pem.match(/-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----/g) ?? []).map((p) => {
    const aki = new x509.X509Crl(p).getExtension(x509.AuthorityKeyIdentifierExtension)!;
    return aki.keyId!.toLowerCase();
  });
}

const refusal = (p: Promise<unknown>) => p.then(() => "fulfilled", (e: unknown) => (e instanceof DomainError ? e.code : String(e)));

describe("staged intermediate rotation", () => {
  it("prepares, keeps it out of service until every peer loaded its CRL, then activates: no peer ever refuses a workload", async () => {
    const t = await mesh();
    const s0 = await secrets(t);
    for (const c of CLUSTERS) await report(t, c, s0[c]!);
    const d0 = Object.fromEntries(CLUSTERS.map((c) => [c, onDisk(s0[c]!.files)]));

    const first = await t.core.issuance.issue("east", {}, TEST_CTX);
    expect(first.files).toBeUndefined();
    expect(first.record).toMatchObject({ status: "prepared", generation: 2, supersedes: null });
    expect(first.pending!.verdict.peers.filter((p) => !p.met).map((p) => [p.cluster, p.code])).toEqual([["north", "crl_not_loaded"], ["west", "crl_not_loaded"]]);
    // East still signs with its first intermediate; every Secret's ca-crl.pem now carries the new one's CRL.
    expect((await t.core.issuance.activeFiles("east", TEST_CTX)).record.serial).toBe(s0.east!.record.serial);
    const s1 = await secrets(t);
    const preparedKeyId = first.record.keyId!;
    for (const c of CLUSTERS) {
      expect(s1[c]!.files["ca-cert.pem"]).toBe(s0[c]!.files["ca-cert.pem"]);
      expect(crlIssuerKeyIds(s1[c]!.files["ca-crl.pem"])).toContain(preparedKeyId);
      expect(crlIssuerKeyIds(s0[c]!.files["ca-crl.pem"])).not.toContain(preparedKeyId);
    }
    const d1 = Object.fromEntries(CLUSTERS.map((c) => [c, onDisk(s1[c]!.files)]));
    expect(meshFailures(t.clock.now(), { ...d0, ...Object.fromEntries(CLUSTERS.map((c) => [`${c}-refreshed`, d1[c]!])) })).toEqual([]);

    // Activation is refused, naming the peers and why, until they report the refreshed file.
    const refused = await t.core.staging.activate("east", first.record.serial, {}, TEST_CTX).catch((e: DomainError) => e);
    expect(refused).toMatchObject({ code: "gate_not_met", errors: [{ path: "peers.north" }, { path: "peers.west" }] });
    await report(t, "west", s1.west!);
    const again = await t.core.issuance.issue("east", {}, TEST_CTX);
    expect([again.record.serial, again.created, again.pending!.verdict.peers.filter((p) => !p.met).map((p) => p.cluster)]).toEqual([first.record.serial, false, ["north"]]);
    await report(t, "north", s1.north!);
    const done = await t.core.issuance.issue("east", {}, TEST_CTX);
    expect(done.pending).toBeUndefined();
    expect(done.record).toMatchObject({ serial: first.record.serial, status: "active", supersedes: s0.east!.record.serial });
    expect(done.files!["ca-key.pem"]).toContain("PRIVATE KEY");
    expect((await t.core.issuance.list("east", { limit: 5 })).map((i) => [i.generation, i.status])).toEqual([[2, "active"], [1, "superseded"]]);

    // The new intermediate's workloads: accepted by peers that loaded the refreshed files, and
    // (what staging prevents) refused by a peer still on the files from before it was prepared.
    const eastNew = onDisk((await secret(t, "east")).files);
    expect(meshFailures(t.clock.now(), { east: eastNew, west: d1.west!, north: d1.north! })).toEqual([]);
    expect(accepts(t.clock.now(), d0.west!, eastNew)).toBe(false);
    expect(verdict(t.clock.now(), d0.west!, eastNew)).toMatch(/unable to get certificate CRL/);

    const events = await t.core.audit.list({ target: first.record.serial }, { limit: 10 });
    // The key went out twice: with the activation's answer, and with the Secret read above.
    expect(events.map((e) => e.action).sort()).toEqual(["cacerts.read", "cacerts.read", "intermediate.activate", "intermediate.prepare"]);
    expect(events.find((e) => e.action === "intermediate.prepare")!.details).toMatchObject({ staged: true, keyReturned: false, replaces: s0.east!.record.serial });
    expect(events.find((e) => e.action === "intermediate.activate")!.details).toMatchObject({ gate: "met", supersedes: s0.east!.record.serial });
  });

  it("without reports, the rotation run prepares the lead time ahead of rotate-after and activates once the lead has passed", async () => {
    const t = await mesh();
    const lead = t.core.staging.prepareLeadMs;
    const rotateAfter = (await t.core.issuance.activeFiles("east", TEST_CTX)).record.rotateAfter;
    t.clock.set(new Date(rotateAfter.getTime() - lead - HOUR));
    expect((await t.core.rotation.run({}, TEST_CTX)).pending).toEqual([]);
    t.clock.advance(2 * HOUR);
    const dry = await t.core.rotation.run({ dryRun: true }, TEST_CTX);
    expect(dry.wouldRotate.map((w) => w.cluster).sort()).toEqual(CLUSTERS.slice().sort());
    const run = await t.core.rotation.run({}, TEST_CTX);
    expect(run.rotated).toEqual([]);
    expect(run.pending.map((p) => [p.cluster, p.prepared, p.waitingFor.map((w) => w.code)])).toEqual([
      ["east", true, ["never_observed", "never_observed"]],
      ["north", true, ["never_observed", "never_observed"]],
      ["west", true, ["never_observed", "never_observed"]],
    ].sort());
    const leadEndsAt = run.pending[0]!.leadEndsAt!;
    expect(leadEndsAt.getTime()).toBe(t.clock.now().getTime() + lead);
    // Before the lead has passed: still pending, nothing new prepared.
    t.clock.advance(lead - HOUR);
    const waiting = await t.core.rotation.run({}, TEST_CTX);
    expect([waiting.rotated.length, waiting.pending.map((p) => p.prepared)]).toEqual([0, [false, false, false]]);
    t.clock.advance(HOUR);
    const activated = await t.core.rotation.run({}, TEST_CTX);
    expect(activated.rotated.map((r) => [r.cluster, r.generation]).sort()).toEqual([["east", 2], ["north", 2], ["west", 2]]);
    expect(activated.pending).toEqual([]);
    const events = await t.core.audit.list({ action: "intermediate.activate" }, { limit: 10 });
    expect(events[0]!.details).toMatchObject({ gate: "met", leadEndedAt: leadEndsAt.toISOString() });
    expect((await t.core.rotation.run({}, TEST_CTX)).rotated).toEqual([]);
  });

  it("forces an activation only with a reason, and audits the peers it leaves behind", async () => {
    const t = await mesh();
    const s0 = await secrets(t);
    for (const c of CLUSTERS) await report(t, c, s0[c]!);
    const { record } = await t.core.issuance.issue("west", {}, TEST_CTX);
    expect(await refusal(t.core.staging.activate("west", record.serial, { force: true }, TEST_CTX))).toBe("validation_failed");
    expect(await refusal(t.core.staging.activate("east", record.serial, { force: true, reason: "x" }, TEST_CTX))).toBe("certificate_not_found");
    const activated = await t.core.staging.activate("west", record.serial, { force: true, reason: "key of generation 1 leaked" }, TEST_CTX);
    expect(activated.status).toBe("active");
    expect(await refusal(t.core.staging.activate("west", record.serial, {}, TEST_CTX))).toBe("not_prepared");
    const [event] = await t.core.audit.list({ action: "intermediate.activate" }, { limit: 1 });
    expect(event!.details).toMatchObject({ gate: "forced", forced: true, reason: "key of generation 1 leaked", unmetPeerCount: 2, unmetPeers: [{ cluster: "east", code: "crl_not_loaded" }, { cluster: "north", code: "crl_not_loaded" }] });
  });

  it("answers a second request with the waiting intermediate, refuses another key, and keeps a root rotation out until it is activated", async () => {
    const t = await mesh();
    const first = await t.core.issuance.issue("north", {}, TEST_CTX);
    const second = await t.core.issuance.issue("north", {}, TEST_CTX);
    expect([second.record.serial, second.created, second.pending !== undefined]).toEqual([first.record.serial, false, true]);
    expect(await refusal(t.core.issuance.issue("north", { csrPem: (await makeCsr()).pem }, TEST_CTX))).toBe("activation_pending");
    expect(await refusal(t.core.rootRotation.start("cluster.local", {}, TEST_CTX))).toBe("activation_pending");
    await t.core.staging.activate("north", first.record.serial, { force: true, reason: "test" }, TEST_CTX);
    expect((await t.core.rootRotation.start("cluster.local", {}, TEST_CTX)).rotation.phase).toBe("prepared");
    // During a root rotation, rotation is one step again (the root rotation stages its own intermediates).
    const during = await t.core.issuance.issue("east", {}, TEST_CTX);
    expect([during.record.status, during.files !== undefined]).toEqual(["active", true]);
  });

  it("answers with the waiting intermediate even once the active one was revoked: never a second one beside it", async () => {
    const t = await mesh();
    const { record } = await t.core.issuance.issue("west", {}, TEST_CTX);
    const active = (await t.core.issuance.activeFiles("west", TEST_CTX)).record;
    await t.core.revocation.revoke(active.serial, "keyCompromise", TEST_CTX);
    const again = await t.core.issuance.issue("west", {}, TEST_CTX);
    expect([again.record.serial, again.created]).toEqual([record.serial, false]);
    await t.core.staging.activate("west", record.serial, { force: true, reason: "replace the revoked one now" }, TEST_CTX);
    expect((await t.core.issuance.list("west", { limit: 5 })).map((i) => `${i.generation}:${i.status}`)).toEqual(["2:active", "1:revoked"]);
  });

  it("lets exactly one of two concurrent activations win", async () => {
    const t = await mesh();
    const { record } = await t.core.issuance.issue("east", {}, TEST_CTX);
    const results = await Promise.all([0, 1].map(() => refusal(t.core.staging.activate("east", record.serial, { force: true, reason: "race" }, TEST_CTX))));
    expect(results.sort()).toEqual(["fulfilled", "rotation_in_progress"]);
    expect((await t.core.issuance.list("east", { limit: 5 })).map((i) => i.status)).toEqual(["active", "superseded"]);
  });

  it("keeps one-step rotation where clusters load no CRL, and stages once the trust domain says they do", async () => {
    const t = await mesh(false);
    const oneStep = await t.core.issuance.issue("east", {}, TEST_CTX);
    expect([oneStep.created, oneStep.record.status, oneStep.files !== undefined]).toEqual([true, "active", true]);
    await t.core.trustDomains.update("cluster.local", { caCrl: true }, TEST_CTX);
    expect((await t.core.issuance.issue("east", {}, TEST_CTX)).record.status).toBe("prepared");
    const [event] = await t.core.audit.list({ action: "trust_domain.update" }, { limit: 1 });
    expect(event!.details).toEqual({ caCrl: { from: false, to: true } });
  });

  it("stages an external-custody rotation: its CRL reaches the peers once uploaded, then the same CSR activates it", async () => {
    const t = await mesh();
    await t.core.clusters.register({ name: "ext", trustDomain: "cluster.local" }, TEST_CTX);
    await t.core.issuance.issue("ext", { csrPem: (await makeCsr()).pem }, TEST_CTX);
    const s0 = await secrets(t);
    for (const c of CLUSTERS) await report(t, c, s0[c]!);
    const csr = await makeCsr();
    const pending = await t.core.issuance.issue("ext", { csrPem: csr.pem }, TEST_CTX);
    expect([pending.record.status, pending.record.custody]).toEqual(["prepared", "external"]);
    // Not in any ca-crl.pem until the cluster uploads the CRL its key signs.
    expect((await t.core.revocation.caCrlBundle("cluster.local")).missing.map((m) => m.serial)).toContain(pending.record.serial);
    const cert = new x509.X509Certificate(pending.record.certPem);
    const signer = { cert, keyAlgorithm: "ecdsa-p256" as const, keyId: cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId, privateKey: csr.keys.privateKey };
    const now = t.clock.now();
    const crl = await signCrl({ signer, number: 1, thisUpdate: now, nextUpdate: new Date(now.getTime() + 7 * 24 * HOUR), entries: [] });
    await t.core.revocation.uploadCrl("ext", pending.record.serial, new Uint8Array(crl.rawData), TEST_CTX);
    const s1 = await secrets(t);
    expect(crlIssuerKeyIds(s1.east!.files["ca-crl.pem"])).toContain(pending.record.keyId!);
    for (const c of CLUSTERS) await report(t, c, s1[c]!);
    const done = await t.core.issuance.issue("ext", { csrPem: csr.pem }, TEST_CTX);
    expect([done.record.serial, done.record.status, done.files!["ca-key.pem"]]).toEqual([pending.record.serial, "active", undefined]);
  });

  it("activates at once where the cluster has no peer", async () => {
    const t = testCore(new Date().toISOString());
    await t.core.trustDomains.create({ name: "solo.local", caCrl: true }, TEST_CTX);
    await t.core.clusters.register({ name: "only", trustDomain: "solo.local" }, TEST_CTX);
    await t.core.issuance.issue("only", {}, TEST_CTX);
    const next = await t.core.issuance.issue("only", {}, TEST_CTX);
    expect([next.created, next.record.status, next.record.generation, next.files !== undefined]).toEqual([true, "active", 2, true]);
  });
});

describe("activationGate", () => {
  const facts = (keyIds: string[] | null): ObservedFacts => ({ bundleSha256: "x", roots: [], caCert: null, crls: keyIds && keyIds.map((keyId) => ({ keyId, issuer: "CN=x", thisUpdate: "", nextUpdate: null, revoked: 0 })) });
  const prepared = { cluster: "east", keyId: "AB12", createdAt: new Date("2026-01-01T00:00:00Z") };
  const at = (iso: string) => new Date(iso);
  const seen = (keyIds: string[] | null) => ({ observedAt: at("2026-01-01T01:00:00Z"), facts: facts(keyIds) });

  it("judges each peer on its latest report, leaving the cluster itself out", () => {
    const v = activationGate({
      prepared,
      peers: [
        { name: "east", observation: undefined },
        { name: "loaded", observation: seen(["ab12", "ff"]) },
        { name: "stale-list", observation: seen(["ff"]) },
        { name: "no-crl-file", observation: seen(null) },
      ],
      now: at("2026-01-05T00:00:00Z"),
      leadMs: 48 * HOUR,
    });
    expect(v.met).toBe(false);
    expect(v.peers.map((p) => [p.cluster, p.met, p.code])).toEqual([["stale-list", false, "crl_not_loaded"], ["loaded", true, undefined], ["no-crl-file", true, undefined]]);
    expect(v.leadEndsAt).toBeNull();
  });

  it("waits out the lead time for peers that never reported", () => {
    const input = { prepared, peers: [{ name: "quiet", observation: undefined }], leadMs: 48 * HOUR };
    const before = activationGate({ ...input, now: at("2026-01-02T23:59:59Z") });
    expect([before.met, before.peers[0]!.code, before.leadEndsAt?.toISOString()]).toEqual([false, "never_observed", "2026-01-03T00:00:00.000Z"]);
    expect(activationGate({ ...input, now: at("2026-01-03T00:00:00Z") }).met).toBe(true);
    expect(activationGate({ ...input, leadMs: 0, now: prepared.createdAt }).met).toBe(true);
  });

  it("is met with no peers at all", () => {
    expect(activationGate({ prepared, peers: [], now: prepared.createdAt, leadMs: HOUR })).toEqual({ met: true, peers: [], leadEndsAt: null });
  });
});

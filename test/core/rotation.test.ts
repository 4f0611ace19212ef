import { describe, expect, it } from "vitest";
import { DAY_MS } from "../../src/clock.js";
import { makeCsr, testCore, TEST_CTX } from "../helpers.js";

async function fleet() {
  const t = testCore();
  await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
  const reg = (name: string, validityDays = 30, renewBeforeDays = 10) =>
    t.core.clusters.register({ name, trustDomain: "cluster.local", policy: { validityDays, renewBeforeDays } }, TEST_CTX);
  return { ...t, reg };
}

describe("rotation due dates (injected clock)", () => {
  it("a cluster is active before rotate_after, due at and after it, expired at not_after", async () => {
    const { core, clock, reg } = await fleet();
    await reg("east");
    const { record } = await core.issuance.issue("east", {}, TEST_CTX);
    expect(record.notAfter.getTime() - record.rotateAfter.getTime()).toBe(10 * DAY_MS);

    clock.set(new Date(record.rotateAfter.getTime() - 1));
    expect((await core.clusters.get("east")).status).toBe("active");
    expect(await core.rotation.due(0)).toEqual([]);
    expect((await core.rotation.due(1)).map((d) => d.cluster)).toEqual(["east"]);

    clock.set(record.rotateAfter);
    expect((await core.clusters.get("east")).status).toBe("due");
    expect(await core.rotation.due(0)).toMatchObject([{ cluster: "east", status: "due", serial: record.serial, generation: 1 }]);

    clock.set(new Date(record.notAfter.getTime() - 1));
    expect((await core.clusters.get("east")).status).toBe("due");
    clock.set(record.notAfter);
    expect((await core.clusters.get("east")).status).toBe("expired");
    expect(await core.rotation.due(0)).toMatchObject([{ cluster: "east", status: "expired" }]);
  });

  it("?within lists what becomes due in that window, soonest first", async () => {
    const { core, clock, reg } = await fleet();
    await reg("a", 30, 10);
    await reg("b", 60, 10);
    await core.issuance.issue("a", {}, TEST_CTX);
    await core.issuance.issue("b", {}, TEST_CTX);
    expect((await core.rotation.due(19 * DAY_MS)).map((d) => d.cluster)).toEqual([]);
    expect((await core.rotation.due(21 * DAY_MS)).map((d) => d.cluster)).toEqual(["a"]);
    expect((await core.rotation.due(51 * DAY_MS)).map((d) => d.cluster)).toEqual(["a", "b"]);
    clock.advance(21 * DAY_MS);
    expect((await core.rotation.due(0)).map((d) => d.cluster)).toEqual(["a"]);
  });
});

describe("batch rotation", () => {
  it("rotates due escrowed clusters, skips not-due and external ones, reports failures without stopping", async () => {
    const t = testCore();
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    // A trust domain whose root runs out: its cluster fails to rotate (root_expired).
    await t.core.trustDomains.create({ name: "dying.example", root: { validityDays: 25 } }, TEST_CTX);
    const reg = (name: string, trustDomain = "cluster.local", validityDays = 30) =>
      t.core.clusters.register({ name, trustDomain, policy: { validityDays, renewBeforeDays: 10 } }, TEST_CTX);
    await reg("due-1");
    await reg("due-2");
    await reg("fresh", "cluster.local", 365);
    await reg("external");
    await reg("failing", "dying.example");
    await reg("never-issued");
    for (const c of ["due-1", "due-2", "fresh", "failing"]) await t.core.issuance.issue(c, {}, TEST_CTX);
    await t.core.issuance.issue("external", { csrPem: (await makeCsr()).pem }, TEST_CTX);
    const before = { d1: (await t.core.clusters.get("due-1")).active!, failing: (await t.core.clusters.get("failing")).active! };
    t.clock.advance(24.5 * DAY_MS);

    const dry = await t.core.rotation.run({ dryRun: true }, TEST_CTX);
    expect(dry.rotated).toEqual([]);
    expect(dry.skipped.map((s) => s.cluster)).toEqual(["external"]);
    expect(dry.wouldRotate.map((s) => s.cluster).sort()).toEqual(["due-1", "due-2", "failing"]);

    const report = await t.core.rotation.run({}, TEST_CTX);
    expect(report.rotated.map((r) => r.cluster).sort()).toEqual(["due-1", "due-2"]);
    expect(report.skipped).toEqual([{ cluster: "external", reason: expect.stringContaining("CSR") }]);
    expect(report.failed).toEqual([{ cluster: "failing", code: "root_expired", detail: expect.stringContaining("expires") }]);

    const d1 = await t.core.clusters.get("due-1");
    expect(d1.status).toBe("active");
    expect(d1.active!.generation).toBe(2);
    expect(d1.active!.supersedes).toBe(before.d1.serial);
    // Rotation supersedes; it never revokes.
    const old = (await t.core.issuance.list("due-1", { limit: 10 })).find((i) => i.generation === 1)!;
    expect(old.status).toBe("superseded");
    expect(old.revokedAt).toBeNull();
    expect((await t.core.clusters.get("fresh")).active!.generation).toBe(1);
    expect((await t.core.clusters.get("failing")).active!.serial).toBe(before.failing.serial);

    // A second run finds nothing more to do for the rotated clusters.
    const again = await t.core.rotation.run({}, TEST_CTX);
    expect(again.rotated).toEqual([]);
  });

  it("a revoked cluster is listed and a run gives it a new intermediate", async () => {
    const { core, reg } = await fleet();
    await reg("east", 365);
    const { record } = await core.issuance.issue("east", {}, TEST_CTX);
    await core.revocation.revoke(record.serial, "keyCompromise", TEST_CTX);
    expect((await core.clusters.get("east")).status).toBe("revoked");
    expect(await core.rotation.due(0)).toMatchObject([{ cluster: "east", status: "revoked", serial: record.serial }]);
    const report = await core.rotation.run({}, TEST_CTX);
    expect(report.rotated).toMatchObject([{ cluster: "east", previousSerial: record.serial, generation: 2 }]);
    expect((await core.clusters.get("east")).status).toBe("active");
  });

  it("scope and trust-domain filters limit a run; concurrent runs rotate a cluster once", async () => {
    const { core, clock, reg } = await fleet();
    await reg("prod-a");
    await reg("dev-a");
    await core.issuance.issue("prod-a", {}, TEST_CTX);
    await core.issuance.issue("dev-a", {}, TEST_CTX);
    clock.advance(21 * DAY_MS);
    const scoped = await core.rotation.run({ inScope: (c) => c.startsWith("prod-") }, TEST_CTX);
    expect(scoped.rotated.map((r) => r.cluster)).toEqual(["prod-a"]);
    expect((await core.rotation.run({ trustDomain: "other.example" }, TEST_CTX)).rotated).toEqual([]);
    const [r1, r2] = await Promise.all([core.rotation.run({}, TEST_CTX), core.rotation.run({}, TEST_CTX)]);
    expect(r1.rotated.map((r) => r.serial)).toEqual(r2.rotated.map((r) => r.serial));
    expect((await core.clusters.get("dev-a")).active!.generation).toBe(2);
  });
});

describe("rotating a fleet in one run", () => {
  it("rotates many clusters concurrently, in due order, one generation each, and leaves every new intermediate's CRL signed", async () => {
    const { core, clock, reg, db } = await fleet();
    const names = Array.from({ length: 70 }, (_, i) => `c${String(i).padStart(2, "0")}`);
    for (const n of names) {
      await reg(n);
      await core.issuance.issue(n, {}, TEST_CTX);
    }
    clock.advance(25 * DAY_MS);
    const report = await core.rotation.run({}, TEST_CTX);
    expect(report.failed).toEqual([]);
    expect(report.rotated.map((r) => r.cluster)).toEqual(names);
    expect(report.rotated.every((r) => r.generation === 2)).toBe(true);
    const rows = db.prepare("SELECT cluster, generation, status FROM intermediates ORDER BY cluster, generation").all() as { cluster: string; generation: number; status: string }[];
    expect(rows.length).toBe(140);
    for (const n of names) expect(rows.filter((r) => r.cluster === n).map((r) => `${r.generation}:${r.status}`)).toEqual(["1:superseded", "2:active"]);
    // Signed by the run: every new intermediate already has its CRL, so the next cacerts?crl=true signs nothing.
    const withCrl = db.prepare("SELECT COUNT(DISTINCT issuer_serial) AS n FROM crls WHERE issuer_serial IN (SELECT serial FROM intermediates WHERE status = 'active')").get() as { n: number };
    expect(withCrl.n).toBe(70);
    expect((await core.audit.verify()).ok).toBe(true);
    // A second run finds nothing due.
    expect((await core.rotation.run({}, TEST_CTX)).rotated).toEqual([]);
  });
});

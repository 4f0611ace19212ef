import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { DAY_MS } from "../../src/clock.js";
import { DomainError } from "../../src/errors.js";
import { IssuanceRateLimited } from "../../src/core/issuance.js";
import { rowCounts, testCore, TEST_CTX } from "../helpers.js";

/** Issue 16, items 5 (rate limit), 12, 13, 14 and the "older revoked serials stay listed" gap. */
async function setup(clusters: string[]) {
  const t = testCore();
  await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
  for (const c of clusters) await t.core.clusters.register({ name: c, trustDomain: "cluster.local" }, TEST_CTX);
  const rootCrl = async () => new x509.X509Crl(new Uint8Array(await t.core.revocation.rootCrlDer("cluster.local")));
  return { ...t, rootCrl };
}

const code = (p: Promise<unknown>) => p.then(() => "ok", (e: unknown) => (e instanceof DomainError ? e.code : String(e)));
const crlsOf = (pem: string) => [...pem.matchAll(/-----BEGIN X509 CRL-----[\s\S]*?-----END X509 CRL-----/g)].map((m) => new x509.X509Crl(m[0]));

describe("CRL validity window (item 14)", () => {
  it("backdates thisUpdate by 60 s like notBefore, for the root's and an intermediate's CRL; nextUpdate = signing time + validity", async () => {
    const { core, clock, rootCrl } = await setup(["east"]);
    await core.issuance.issue("east", {}, TEST_CTX);
    const now = clock.now().getTime();
    const root = await rootCrl();
    expect(root.thisUpdate.getTime()).toBe(now - 60_000);
    expect(root.nextUpdate!.getTime()).toBe(now + 7 * DAY_MS);
    const crls = crlsOf((await core.revocation.caCrlBundle("cluster.local")).pem);
    expect(crls).toHaveLength(2);
    for (const crl of crls) expect([crl.thisUpdate.getTime(), crl.nextUpdate!.getTime()]).toEqual([now - 60_000, now + 7 * DAY_MS]);
    // The CRL signed by a revocation is backdated too.
    clock.advance(5_000);
    const { record } = await core.issuance.issue("east", {}, TEST_CTX);
    await core.revocation.revoke(record.serial, "keyCompromise", TEST_CTX);
    expect((await rootCrl()).thisUpdate.getTime()).toBe(clock.now().getTime() - 60_000);
  });
});

describe("concurrent revocations (item 12)", () => {
  it("60 concurrent revocations of different intermediates under one root all succeed, and the root CRL lists all 60", async () => {
    const names = Array.from({ length: 60 }, (_, i) => `c${i}`);
    const { core, rootCrl } = await setup(names);
    const serials: string[] = [];
    for (const n of names) serials.push((await core.issuance.issue(n, {}, TEST_CTX)).record.serial);
    const outcomes = await Promise.all(serials.map((s) => code(core.revocation.revoke(s, "keyCompromise", TEST_CTX))));
    expect(outcomes.filter((o) => o !== "ok")).toEqual([]);
    const crl = await rootCrl();
    expect(crl.entries.map((e) => e.serialNumber.toLowerCase()).sort()).toEqual(serials.map((s) => s.toLowerCase()).sort());
  });
});

describe("older revocations stay listed (mutation-review gap)", () => {
  it("every earlier revoked serial stays on the root CRL after each later revocation, over days", async () => {
    const names = ["a", "b", "c", "d", "e"];
    const { core, clock, rootCrl } = await setup(names);
    const revoked: string[] = [];
    for (const n of names) {
      const { record } = await core.issuance.issue(n, {}, TEST_CTX);
      clock.advance(DAY_MS); // past half the validity of some CRLs: the root CRL is re-signed in between too
      await core.revocation.revoke(record.serial, n === "a" ? "keyCompromise" : "superseded", TEST_CTX);
      revoked.push(record.serial.toLowerCase());
      const crl = await rootCrl();
      expect(crl.entries.map((e) => e.serialNumber.toLowerCase()).sort()).toEqual([...revoked].sort());
      expect(crl.findRevoked(revoked[0]!)!.reason).toBe(x509.X509CrlReason.keyCompromise);
    }
    clock.advance(4 * DAY_MS); // a plain re-sign keeps them all
    expect(await core.revocation.refreshAll()).toBeGreaterThan(0);
    expect((await rootCrl()).entries.map((e) => e.serialNumber.toLowerCase()).sort()).toEqual([...revoked].sort());
  });
});

describe("replaying the Idempotency-Key of a revoked intermediate (item 13)", () => {
  it("refuses with intermediate_revoked, returns no key, and writes only a denied audit event", async () => {
    const { core, db } = await setup(["east"]);
    const req = { idempotencyKey: "deploy-1", requestHash: "h" };
    const first = await core.issuance.issue("east", req, TEST_CTX);
    expect(first.files!["ca-key.pem"]).toBeDefined();
    const replayed = await core.issuance.issue("east", req, TEST_CTX);
    expect([replayed.created, replayed.record.serial]).toEqual([false, first.record.serial]);
    await core.revocation.revoke(first.record.serial, "keyCompromise", TEST_CTX);
    const events = () => (db.prepare("SELECT COUNT(*) AS n FROM audit_events").get() as { n: number }).n;
    const before = { rows: rowCounts(db), events: events() };
    const err = await core.issuance.issue("east", req, TEST_CTX).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe("intermediate_revoked");
    expect({ rows: rowCounts(db), events: events() }).toEqual({ rows: before.rows, events: before.events + 1 });
    const last = db.prepare("SELECT action, outcome, target_id FROM audit_events ORDER BY seq DESC LIMIT 1").get();
    expect(last).toEqual({ action: "intermediate.replay_refused", outcome: "denied", target_id: first.record.serial });
  });
});

describe("issuance rate limit per cluster (item 5)", () => {
  it("allows 24 generations a day; the 25th is issuance_rate_limited with a retry time; replays do not count; the window rolls", async () => {
    const { core, clock, db } = await setup(["east", "west"]);
    const t0 = clock.now().getTime();
    for (let i = 0; i < 24; i++) {
      await core.issuance.issue("east", { idempotencyKey: `k${i}`, requestHash: "h" }, TEST_CTX);
      clock.advance(60_000);
    }
    const before = rowCounts(db);
    const err = await core.issuance.issue("east", {}, TEST_CTX).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(IssuanceRateLimited);
    expect((err as IssuanceRateLimited).code).toBe("issuance_rate_limited");
    // The oldest of the 24 leaves the window 24 h after it was issued.
    expect((err as IssuanceRateLimited).retryAfterSeconds).toBe((t0 + DAY_MS - clock.now().getTime()) / 1000);
    expect(rowCounts(db).intermediates).toBe(before.intermediates);
    // A retry with an earlier Idempotency-Key still gets its intermediate; another cluster is unaffected.
    expect((await core.issuance.issue("east", { idempotencyKey: "k23", requestHash: "h" }, TEST_CTX)).created).toBe(false);
    expect((await core.issuance.issue("west", {}, TEST_CTX)).created).toBe(true);
    clock.set(new Date(t0 + DAY_MS));
    expect((await core.issuance.issue("east", {}, TEST_CTX)).record.generation).toBe(25);
    expect(await code(core.issuance.issue("east", {}, TEST_CTX))).toBe("issuance_rate_limited");
  });
});

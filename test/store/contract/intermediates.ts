import { describe, expect, it } from "vitest";
import type { IntermediateRecord, Store } from "../../../src/core/ports.js";
import { allAudit, audit, auditCount, day, freshStore, intermediate, issue, refusal, revocation, seedCluster, seedDomain, serials, T0, type OpenStore } from "./fixtures.js";

const issueAudit = (r: IntermediateRecord) => audit("intermediate.issue", r.serial, { cluster: r.cluster, trustDomain: r.trustDomain });

/** Issuance, supersession, idempotency and the certificate inventory. */
export function intermediateContract(open: OpenStore): void {
  const store = freshStore(open);
  async function setup(s: Store) {
    const r = await seedDomain(s, "one.example");
    const east = await seedCluster(s, "east", "one.example");
    return { r, east };
  }

  describe("intermediates", () => {
    it("supersedes the active generation in the same write: exactly one active, supersededBy set", async () => {
      const { r, east } = await setup(store());
      const g1 = await issue(store(), east, r.serial);
      const g2 = intermediate(east, r.serial, 2, { supersedes: g1.serial });
      expect(await store().insertIntermediate(g2, issueAudit(g2))).toEqual({ record: g2, created: true });
      expect(await store().getIntermediate(g1.serial)).toEqual({ ...g1, status: "superseded", supersededBy: g2.serial });
      expect(await store().getIntermediate(g2.serial)).toEqual(g2);
      expect(await store().getActiveIntermediate("east")).toEqual(g2);
      expect(await store().getLatestIntermediate("east")).toEqual(g2);
      const all = await store().listIntermediates("east", { limit: 10 });
      expect(all.filter((i) => i.status === "active").map((i) => i.serial)).toEqual([g2.serial]);
    });

    it.each([
      ["skips a generation", 3],
      ["repeats the latest generation", 1],
    ])("refuses a record that %s with rotation_in_progress and writes nothing", async (_, generation) => {
      const { r, east } = await setup(store());
      const g1 = await issue(store(), east, r.serial);
      const events = await auditCount(store());
      const bad = intermediate(east, r.serial, generation, { supersedes: g1.serial });
      expect(await refusal(store().insertIntermediate(bad, issueAudit(bad)))).toBe("rotation_in_progress");
      expect(await store().getIntermediate(bad.serial)).toBeUndefined();
      expect(await store().getActiveIntermediate("east")).toEqual(g1);
      expect(await auditCount(store())).toBe(events);
    });

    it("replays an idempotency key of the same cluster: the earlier record, created: false, no audit event", async () => {
      const { r, east } = await setup(store());
      const west = await seedCluster(store(), "west", "one.example");
      const g1 = await issue(store(), east, r.serial, { idempotencyKey: "k1", requestHash: "h1" });
      const events = await auditCount(store());
      const again = intermediate(east, r.serial, 2, { supersedes: g1.serial, idempotencyKey: "k1", requestHash: "h2" });
      expect(await store().insertIntermediate(again, issueAudit(again))).toEqual({ record: g1, created: false });
      expect(await store().getIntermediate(again.serial)).toBeUndefined();
      expect(await auditCount(store())).toBe(events);
      expect(await store().getIntermediateByIdempotencyKey("east", "k1")).toEqual(g1);
      expect(await store().getIntermediateByIdempotencyKey("east", "k2")).toBeUndefined();
      // Keys are scoped to a cluster.
      expect(await store().getIntermediateByIdempotencyKey("west", "k1")).toBeUndefined();
      const w1 = await issue(store(), west, r.serial, { idempotencyKey: "k1" });
      expect(await store().getIntermediateByIdempotencyKey("west", "k1")).toEqual(w1);
    });

    it("counts a cluster's generations created after a time (the issuance rate limit), per cluster", async () => {
      const { r, east } = await setup(store());
      const west = await seedCluster(store(), "west", "one.example");
      await issue(store(), east, r.serial, { createdAt: day(0) });
      await issue(store(), east, r.serial, { createdAt: day(0.5) });
      await issue(store(), east, r.serial, { createdAt: day(1) });
      await issue(store(), west, r.serial, { createdAt: day(1) });
      expect(await store().countIntermediatesSince("east", day(-1))).toBe(3);
      expect(await store().countIntermediatesSince("east", day(0))).toBe(2); // strictly after
      expect(await store().countIntermediatesSince("east", day(0.75))).toBe(1);
      expect(await store().countIntermediatesSince("east", day(1))).toBe(0);
      expect(await store().countIntermediatesSince("west", day(0))).toBe(1);
      expect(await store().countIntermediatesSince("nowhere", day(-1))).toBe(0);
    });

    it("lets exactly one of two concurrent inserts of the same generation win; the other is rotation_in_progress", async () => {
      const { r, east } = await setup(store());
      const a = intermediate(east, r.serial, 1);
      const b = intermediate(east, r.serial, 1);
      const results = await Promise.allSettled([store().insertIntermediate(a, issueAudit(a)), store().insertIntermediate(b, issueAudit(b))]);
      const won = results.filter((x) => x.status === "fulfilled");
      const lost = results.filter((x): x is PromiseRejectedResult => x.status === "rejected");
      expect(won).toHaveLength(1);
      expect(lost.map((x) => (x.reason as { code?: string }).code)).toEqual(["rotation_in_progress"]);
      const winner = (await store().getActiveIntermediate("east"))!;
      expect([a.serial, b.serial]).toContain(winner.serial);
      expect((await allAudit(store())).filter((e) => e.action === "intermediate.issue").map((e) => e.target.id)).toEqual([winner.serial]);
    });

    it("answers two concurrent inserts with one idempotency key with one record, created once", async () => {
      const { r, east } = await setup(store());
      const a = intermediate(east, r.serial, 1, { idempotencyKey: "k" });
      const b = intermediate(east, r.serial, 1, { idempotencyKey: "k" });
      const [x, y] = await Promise.all([store().insertIntermediate(a, issueAudit(a)), store().insertIntermediate(b, issueAudit(b))]);
      expect([x.created, y.created].sort()).toEqual([false, true]);
      expect(x.record.serial).toBe(y.record.serial);
      expect(await store().listIntermediates("east", { limit: 10 })).toHaveLength(1);
    });

    it("commits many concurrent inserts for different clusters, each with its audit event", async () => {
      const { r } = await setup(store());
      const clusters = [];
      for (let i = 0; i < 40; i++) clusters.push(await seedCluster(store(), `c${String(i).padStart(2, "0")}`, "one.example"));
      const records = clusters.map((c) => intermediate(c, r.serial, 1));
      const results = await Promise.all(records.map((rec) => store().insertIntermediate(rec, issueAudit(rec))));
      expect(results.every((x) => x.created)).toBe(true);
      for (const rec of records) {
        expect(await store().getActiveIntermediate(rec.cluster)).toEqual(rec);
        const events = [];
        for await (const e of store().iterateAudit({ target: rec.serial })) events.push(e);
        expect(events.map((e) => [e.action, e.cluster])).toEqual([["intermediate.issue", rec.cluster]]);
      }
    });

    it("activates a prepared generation: the active one superseded and the prepared one active in one write, with its audit event", async () => {
      const { r, east } = await setup(store());
      const g1 = await issue(store(), east, r.serial);
      const g2 = await issue(store(), east, r.serial, { status: "prepared", supersedes: null });
      expect(await store().getActiveIntermediate("east")).toEqual(g1);
      const events = await auditCount(store());
      const activated = await store().activateIntermediate(g2.serial, g1.serial, audit("intermediate.activate", g2.serial, { cluster: "east", trustDomain: "one.example" }));
      expect(activated).toEqual({ ...g2, status: "active", supersedes: g1.serial });
      expect(await store().getIntermediate(g1.serial)).toEqual({ ...g1, status: "superseded", supersededBy: g2.serial });
      expect(await store().getActiveIntermediate("east")).toEqual(activated);
      expect(await auditCount(store())).toBe(events + 1);
      // Again, or with a stale view of the active one: refused, nothing written.
      expect(await refusal(store().activateIntermediate(g2.serial, g1.serial, audit("intermediate.activate", g2.serial)))).toBe("rotation_in_progress");
      const g3 = await issue(store(), east, r.serial, { status: "prepared", supersedes: null });
      expect(await refusal(store().activateIntermediate(g3.serial, g1.serial, audit("intermediate.activate", g3.serial)))).toBe("rotation_in_progress");
      expect(await refusal(store().activateIntermediate(g3.serial, null, audit("intermediate.activate", g3.serial)))).toBe("rotation_in_progress");
      expect((await store().getIntermediate(g3.serial))!.status).toBe("prepared");
      expect(await store().getActiveIntermediate("east")).toEqual(activated);
      expect(await auditCount(store())).toBe(events + 2);
    });

    it("lets exactly one of two concurrent activations win", async () => {
      const { r, east } = await setup(store());
      const g1 = await issue(store(), east, r.serial);
      const g2 = await issue(store(), east, r.serial, { status: "prepared", supersedes: null });
      const results = await Promise.allSettled([0, 1].map(() => store().activateIntermediate(g2.serial, g1.serial, audit("intermediate.activate", g2.serial))));
      expect(results.filter((x) => x.status === "fulfilled")).toHaveLength(1);
      expect((await store().listIntermediates("east", { limit: 5 })).map((i) => i.status)).toEqual(["active", "superseded"]);
    });

    it("gets by serial, active, latest (whatever its status) and pages generations newest first", async () => {
      const { r, east } = await setup(store());
      expect(await store().getActiveIntermediate("east")).toBeUndefined();
      expect(await store().getLatestIntermediate("east")).toBeUndefined();
      expect(await store().getIntermediate("ff")).toBeUndefined();
      const gens = [];
      for (let g = 1; g <= 5; g++) gens.push(await issue(store(), east, r.serial));
      await store().revokeIntermediate(await revocation(store(), r, gens[4]!.serial), audit("intermediate.revoke", gens[4]!.serial));
      expect(await store().getActiveIntermediate("east")).toBeUndefined();
      expect(await store().getLatestIntermediate("east")).toMatchObject({ serial: gens[4]!.serial, status: "revoked", generation: 5 });
      const gen = async (after?: string) => (await store().listIntermediates("east", { limit: 2, after })).map((i) => i.generation);
      expect(await gen()).toEqual([5, 4]);
      expect(await gen("4")).toEqual([3, 2]);
      expect(await gen("2")).toEqual([1]);
      expect(await gen("1")).toEqual([]);
      expect(await store().listIntermediates("west", { limit: 2 })).toEqual([]);
    });
  });

  describe("certificate inventory (listCertificates)", () => {
    /** Three clusters in two trust domains; statuses and dates chosen so that every filter splits them. */
    async function inventory(s: Store) {
      const { r, east } = await setup(s);
      const r2 = await seedDomain(s, "two.example");
      const west = await seedCluster(s, "west", "one.example");
      const north = await seedCluster(s, "north", "two.example");
      const at = (created: number, expires: number) => ({ createdAt: day(created), notBefore: day(created), notAfter: day(expires) });
      const e1 = await issue(s, east, r.serial, at(-100, -10)); // superseded, expired
      const e2 = await issue(s, east, r.serial, at(-50, 40)); // superseded
      const w1 = await issue(s, west, r.serial, at(-50, 40)); // revoked
      await s.revokeIntermediate(await revocation(s, r, w1.serial, day(-20)), audit("intermediate.revoke", w1.serial));
      const e3 = await issue(s, east, r.serial, at(-10, 80)); // active
      const w2 = await issue(s, west, r.serial, at(-10, 80)); // active, same createdAt as e3
      const n1 = await issue(s, north, r2.serial, { ...at(-5, -1), custody: "external", sealedKey: null }); // active, expired
      return { e1, e2, e3, w1, w2, n1, all: [e1, e2, e3, w1, w2, n1] };
    }
    const newestFirst = (rs: IntermediateRecord[]) =>
      serials([...rs].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || (a.serial < b.serial ? 1 : a.serial > b.serial ? -1 : 0)));

    it("filters by cluster, trust domain, status at `now`, expiry and issue time, newest first", async () => {
      const { e1, e2, e3, w1, w2, n1, all } = await inventory(store());
      const list = async (filter: Parameters<Store["listCertificates"]>[0]) => serials(await store().listCertificates(filter, T0, { limit: 100 }));
      expect(await list({})).toEqual(newestFirst(all));
      expect(await list({ cluster: "east" })).toEqual(newestFirst([e1, e2, e3]));
      expect(await list({ trustDomain: "two.example" })).toEqual([n1.serial]);
      expect(await list({ trustDomain: "one.example" })).toEqual(newestFirst([e1, e2, e3, w1, w2]));
      expect(await list({ status: "active" })).toEqual(newestFirst([e3, w2]));
      expect(await list({ status: "superseded" })).toEqual([e2.serial]);
      expect(await list({ status: "revoked" })).toEqual([w1.serial]);
      expect(await list({ status: "expired" })).toEqual(newestFirst([e1, n1]));
      expect(await list({ expiresBefore: T0 })).toEqual(newestFirst([e1, n1]));
      expect(await list({ expiresBefore: day(80) })).toEqual(newestFirst([e1, e2, w1, n1]));
      expect(await list({ issuedAfter: day(-50) })).toEqual(newestFirst([e3, w2, n1]));
      expect(await list({ cluster: "east", status: "superseded" })).toEqual([e2.serial]);
      expect(await list({ cluster: "west", issuedAfter: day(-60), status: "active" })).toEqual([w2.serial]);
      // Status is judged at `now`: a year later everything unrevoked has expired.
      expect(serials(await store().listCertificates({ status: "expired" }, day(365), { limit: 100 }))).toEqual(newestFirst([e1, e2, e3, w2, n1]));
    });

    it("pages by the (createdAt, serial) of the previous page's last item, ties included", async () => {
      const { all } = await inventory(store());
      const seen: string[] = [];
      let after: { createdAt: number; serial: string } | undefined;
      for (let pages = 0; pages <= all.length; pages++) {
        const page = await store().listCertificates({}, T0, { limit: 2, after });
        if (page.length === 0) break;
        expect(page.length).toBeLessThanOrEqual(2);
        seen.push(...serials(page));
        const last = page[page.length - 1]!;
        after = { createdAt: last.createdAt.getTime(), serial: last.serial };
      }
      expect(seen).toEqual(newestFirst(all));
      // A cursor between the two records issued at the same instant.
      const [first] = newestFirst(all);
      const rest = await store().listCertificates({}, T0, { limit: 100, after: { createdAt: day(-10).getTime(), serial: first! } });
      expect(serials(rest)).toEqual(newestFirst(all).slice(1));
    });
  });
}

import { describe, expect, it } from "vitest";
import type { IntermediateRecord, Store } from "../../../src/core/ports.js";
import { audit, auditCount, crl, day, freshStore, issue, refusal, revocation, seedCluster, seedDomain, serials, T0, type OpenStore } from "./fixtures.js";

const sorted = (xs: string[]) => [...xs].sort();

/** CRLs, revocation, decommissioning, and the fleet-wide queries. */
export function revocationContract(open: OpenStore): void {
  const store = freshStore(open);
  async function setup(s: Store) {
    const r = await seedDomain(s, "one.example");
    const east = await seedCluster(s, "east", "one.example");
    const west = await seedCluster(s, "west", "one.example");
    return { r, east, west };
  }

  describe("CRLs", () => {
    it("inserts CRLs and returns an issuer's latest, every field as written", async () => {
      const { r, east } = await setup(store());
      const i1 = await issue(store(), east, r.serial);
      expect(await store().getLatestCrl(r.serial)).toBeUndefined();
      const events = await auditCount(store());
      const first = crl(r, 1);
      await store().insertCrl(first, null);
      expect(await auditCount(store())).toBe(events);
      const second = crl(r, 2, { thisUpdate: day(1), nextUpdate: day(8), entries: 2, crlNumber: null, der: new Uint8Array(300).fill(0xa5) });
      await store().insertCrl(second, audit("crl.sign", r.serial));
      expect(await auditCount(store())).toBe(events + 1);
      expect(await store().getLatestCrl(r.serial)).toEqual(second);
      const uploaded = crl({ serial: i1.serial, trustDomain: "one.example" }, 1, { issuerKind: "intermediate", uploaded: true });
      await store().insertCrl(uploaded, audit("crl.upload", i1.serial));
      expect(await store().getLatestCrl(i1.serial)).toEqual(uploaded);
      expect(await store().getLatestCrl(r.serial)).toEqual(second);
    });

    it("refuses a second CRL with the same seq with crl_conflict, without an audit event", async () => {
      const { r } = await setup(store());
      await store().insertCrl(crl(r, 1), audit("crl.sign", r.serial));
      const events = await auditCount(store());
      expect(await refusal(store().insertCrl(crl(r, 1, { entries: 9 }), audit("crl.sign", r.serial)))).toBe("crl_conflict");
      expect((await store().getLatestCrl(r.serial))?.entries).toBe(0);
      expect(await auditCount(store())).toBe(events);
    });

    it("reads many issuers' latest CRLs at once and inserts many in one write, skipping a seq another writer took (when the backend offers it)", async () => {
      const s = store();
      if (!s.latestCrls || !s.insertCrls) return;
      const { r, east, west } = await setup(s);
      const [e1, w1] = [await issue(s, east, r.serial), await issue(s, west, r.serial)];
      const of = (i: IntermediateRecord, seq: number, over = {}) => crl({ serial: i.serial, trustDomain: "one.example" }, seq, { issuerKind: "intermediate", ...over });
      await s.insertCrl(of(e1, 1), null);
      const events = await auditCount(s);
      const inserted = await s.insertCrls([of(e1, 1, { entries: 7 }), of(e1, 2), of(w1, 1)]);
      expect(inserted.map((c) => [c.issuerSerial, c.seq])).toEqual([[e1.serial, 2], [w1.serial, 1]]);
      expect(await s.insertCrls([])).toEqual([]);
      expect(await auditCount(s)).toBe(events);
      const latest = await s.latestCrls([e1.serial, w1.serial, r.serial, "0badc0de"]);
      expect([...latest.keys()].sort()).toEqual(sorted([e1.serial, w1.serial]));
      expect(latest.get(e1.serial)).toEqual(of(e1, 2));
      expect(latest.get(w1.serial)).toEqual(of(w1, 1));
      // More issuers than one statement binds.
      expect((await s.latestCrls(Array.from({ length: 1200 }, (_, i) => (i === 1100 ? w1.serial : `f${i}`)))).size).toBe(1);
    });
  });

  describe("revocation", () => {
    it("revokes an intermediate and commits its root CRL with it", async () => {
      const { r, east } = await setup(store());
      const i1 = await issue(store(), east, r.serial);
      const rev = await revocation(store(), r, i1.serial, day(1), "keyCompromise");
      const revoked = await store().revokeIntermediate(rev, audit("intermediate.revoke", i1.serial));
      expect(revoked).toEqual({ ...i1, status: "revoked", revokedAt: day(1), revocationReason: "keyCompromise" });
      expect(await store().getIntermediate(i1.serial)).toEqual(revoked);
      expect(await store().getLatestCrl(r.serial)).toEqual(rev.crl);
    });

    it("refuses already_revoked and certificate_not_found, and then writes neither status, CRL nor audit event", async () => {
      const { r, east } = await setup(store());
      const i1 = await issue(store(), east, r.serial);
      await store().revokeIntermediate(await revocation(store(), r, i1.serial, day(1)), audit("intermediate.revoke", i1.serial));
      const events = await auditCount(store());
      const again = await revocation(store(), r, i1.serial, day(2), "superseded");
      expect(await refusal(store().revokeIntermediate(again, audit("intermediate.revoke", i1.serial)))).toBe("already_revoked");
      expect(await refusal(store().revokeIntermediate(await revocation(store(), r, "0badc0de"), audit("intermediate.revoke", "0badc0de")))).toBe("certificate_not_found");
      expect(await store().getIntermediate(i1.serial)).toMatchObject({ revokedAt: day(1), revocationReason: "keyCompromise" });
      expect((await store().getLatestCrl(r.serial))?.seq).toBe(1);
      expect(await auditCount(store())).toBe(events);
    });

    it("leaves the intermediate unrevoked when its CRL loses the race (crl_conflict)", async () => {
      const { r, east } = await setup(store());
      const i1 = await issue(store(), east, r.serial);
      await store().insertCrl(crl(r, 1), null);
      const stale = { serial: i1.serial, revokedAt: T0, reason: "keyCompromise", crl: crl(r, 1) };
      expect(await refusal(store().revokeIntermediate(stale, audit("intermediate.revoke", i1.serial)))).toBe("crl_conflict");
      expect(await store().getIntermediate(i1.serial)).toEqual(i1);
    });

    it("lists a root's revoked intermediates, oldest revocation first", async () => {
      const { r, east, west } = await setup(store());
      const r2 = await seedDomain(store(), "two.example");
      const north = await seedCluster(store(), "north", "two.example");
      const a = await issue(store(), east, r.serial);
      const b = await issue(store(), east, r.serial);
      const c = await issue(store(), west, r.serial);
      const n = await issue(store(), north, r2.serial);
      expect(await store().listRevokedByRoot(r.serial)).toEqual([]);
      for (const [x, at, root] of [[b, 5, r], [c, 1, r], [a, 3, r], [n, 2, r2]] as const) {
        await store().revokeIntermediate(await revocation(store(), root, x.serial, day(at), `reason-${at}`), audit("intermediate.revoke", x.serial));
      }
      expect(await store().listRevokedByRoot(r.serial)).toEqual([
        { serial: c.serial, revokedAt: day(1), reason: "reason-1" },
        { serial: a.serial, revokedAt: day(3), reason: "reason-3" },
        { serial: b.serial, revokedAt: day(5), reason: "reason-5" },
      ]);
      expect(await store().listRevokedByRoot(r2.serial)).toEqual([{ serial: n.serial, revokedAt: day(2), reason: "reason-2" }]);
    });
  });

  describe("decommissioning", () => {
    it("decommissions a cluster without a revocation; its intermediate stays as it was", async () => {
      const { r, east } = await setup(store());
      const i1 = await issue(store(), east, r.serial);
      const done = await store().decommissionCluster("east", day(1), undefined, audit("cluster.decommission", "east"));
      expect(done).toEqual({ ...east, decommissionedAt: day(1), updatedAt: day(1) });
      expect(await store().getCluster("east")).toEqual(done);
      expect(await store().getIntermediate(i1.serial)).toEqual(i1);
      expect(await store().getLatestCrl(r.serial)).toBeUndefined();
    });

    it("decommissions a cluster and revokes its active intermediate with the CRL, in one write", async () => {
      const { r, east } = await setup(store());
      const i1 = await issue(store(), east, r.serial);
      const rev = await revocation(store(), r, i1.serial, day(1), "cessationOfOperation");
      expect((await store().decommissionCluster("east", day(1), rev, audit("cluster.decommission", "east"))).decommissionedAt).toEqual(day(1));
      expect(await store().getIntermediate(i1.serial)).toMatchObject({ status: "revoked", revokedAt: day(1), revocationReason: "cessationOfOperation" });
      expect(await store().getLatestCrl(r.serial)).toEqual(rev.crl);
    });

    it("refuses cluster_decommissioned and cluster_not_found without an audit event; a failed revocation undoes the decommission", async () => {
      const { r, east, west } = await setup(store());
      await store().decommissionCluster("east", day(1), undefined, audit("cluster.decommission", "east"));
      const w1 = await issue(store(), west, r.serial);
      await store().revokeIntermediate(await revocation(store(), r, w1.serial), audit("intermediate.revoke", w1.serial));
      const events = await auditCount(store());
      expect(await refusal(store().decommissionCluster("east", day(2), undefined, audit("cluster.decommission", "east")))).toBe("cluster_decommissioned");
      expect(await refusal(store().decommissionCluster("south", day(2), undefined, audit("cluster.decommission", "south")))).toBe("cluster_not_found");
      const again = await revocation(store(), r, w1.serial, day(2));
      expect(await refusal(store().decommissionCluster("west", day(2), again, audit("cluster.decommission", "west")))).toBe("already_revoked");
      expect(await store().getCluster("west")).toEqual(west);
      expect((await store().getCluster("east"))?.decommissionedAt).toEqual(day(1));
      expect(await auditCount(store())).toBe(events);
    });
  });

  describe("CRL refresh queries", () => {
    it("lists a trust domain's live intermediates: neither revoked nor expired at `now`", async () => {
      const { r, east, west } = await setup(store());
      const r2 = await seedDomain(store(), "two.example");
      const north = await seedCluster(store(), "north", "two.example");
      const e1 = await issue(store(), east, r.serial); // superseded, live
      const e2 = await issue(store(), east, r.serial, { custody: "external", sealedKey: null });
      const w1 = await issue(store(), west, r.serial, { createdAt: day(-100) }); // expired at T0
      const w2 = await issue(store(), west, r.serial);
      await store().revokeIntermediate(await revocation(store(), r, w2.serial), audit("intermediate.revoke", w2.serial));
      await issue(store(), north, r2.serial);
      expect(sorted(serials(await store().listLiveIntermediates("one.example", T0)))).toEqual(sorted([e1.serial, e2.serial]));
      expect(sorted(serials(await store().listLiveIntermediates("one.example", day(-50))))).toEqual(sorted([e1.serial, e2.serial, w1.serial]));
      expect(await store().listLiveIntermediates("three.example", T0)).toEqual([]);
    });

    it("lists live escrowed intermediates without a fresh CRL, by serial, in pages", async () => {
      const { r, east, west } = await setup(store());
      const south = await seedCluster(store(), "south", "one.example");
      const e1 = await issue(store(), east, r.serial);
      const e2 = await issue(store(), east, r.serial);
      await issue(store(), west, r.serial, { custody: "external", sealedKey: null }); // external: meshroot signs no CRL for it
      await issue(store(), south, r.serial, { createdAt: day(-100) }); // expired
      const s2 = await issue(store(), south, r.serial);
      const freshAfter = day(-1);
      const needing = async (page: { limit: number; after?: string }) => serials(await store().listIntermediatesNeedingCrl("one.example", T0, freshAfter, page));
      expect(await needing({ limit: 10 })).toEqual(sorted([e1.serial, e2.serial, s2.serial]));
      // A fresh CRL takes e1 out; a stale one (signed before freshAfter) or an expired one does not.
      await store().insertCrl(crl({ serial: e1.serial, trustDomain: "one.example" }, 1, { issuerKind: "intermediate", thisUpdate: day(-0.5) }), null);
      await store().insertCrl(crl({ serial: e2.serial, trustDomain: "one.example" }, 1, { issuerKind: "intermediate", thisUpdate: day(-2) }), null);
      await store().insertCrl(crl({ serial: s2.serial, trustDomain: "one.example" }, 1, { issuerKind: "intermediate", thisUpdate: day(-0.5), nextUpdate: T0 }), null);
      const expected = sorted([e2.serial, s2.serial]);
      expect(await needing({ limit: 10 })).toEqual(expected);
      expect(await needing({ limit: 1 })).toEqual([expected[0]]);
      expect(await needing({ limit: 1, after: expected[0] })).toEqual([expected[1]]);
      expect(await needing({ limit: 1, after: expected[1] })).toEqual([]);
      // Revoked ones are out too.
      await store().revokeIntermediate(await revocation(store(), r, e2.serial), audit("intermediate.revoke", e2.serial));
      expect(await needing({ limit: 10 })).toEqual([s2.serial]);
    });
  });

  describe("fleet queries", () => {
    it("lists active intermediates due for rotation, by trust domain or all, skipping decommissioned clusters", async () => {
      const { r, east, west } = await setup(store());
      const r2 = await seedDomain(store(), "two.example");
      const north = await seedCluster(store(), "north", "two.example");
      const south = await seedCluster(store(), "south", "one.example");
      await issue(store(), east, r.serial, { rotateAfter: day(1) }); // superseded below: never due
      const e2 = await issue(store(), east, r.serial, { rotateAfter: day(5) });
      const w1 = await issue(store(), west, r.serial, { rotateAfter: day(2) });
      const n1 = await issue(store(), north, r2.serial, { rotateAfter: day(3) });
      await issue(store(), south, r.serial, { rotateAfter: day(1) });
      await store().decommissionCluster("south", T0, undefined, audit("cluster.decommission", "south"));
      const due = async (before: Date, td?: string) => sorted(serials(await store().listDueIntermediates(before, td)));
      expect(await due(day(0))).toEqual([]);
      expect(await due(day(3))).toEqual(sorted([w1.serial, n1.serial]));
      expect(await due(day(5))).toEqual(sorted([w1.serial, n1.serial, e2.serial]));
      expect(await due(day(5), "one.example")).toEqual(sorted([w1.serial, e2.serial]));
      expect(await due(day(5), "two.example")).toEqual([n1.serial]);
    });

    it("lists the active intermediate of every live cluster, and the live clusters left revoked", async () => {
      const { r, east, west } = await setup(store());
      const r2 = await seedDomain(store(), "two.example");
      const north = await seedCluster(store(), "north", "two.example");
      const south = await seedCluster(store(), "south", "one.example");
      await issue(store(), east, r.serial);
      const e2 = await issue(store(), east, r.serial);
      const w1 = await issue(store(), west, r.serial);
      const n1 = await issue(store(), north, r2.serial);
      const s1 = await issue(store(), south, r.serial);
      await store().decommissionCluster("south", T0, undefined, audit("cluster.decommission", "south"));
      expect(sorted(serials(await store().listActiveIntermediates()))).toEqual(sorted([e2.serial, w1.serial, n1.serial]));
      expect(await store().listRevokedClusters(undefined)).toEqual([]);
      for (const [x, root] of [[w1, r], [n1, r2], [s1, r]] as const) {
        await store().revokeIntermediate(await revocation(store(), root, x.serial), audit("intermediate.revoke", x.serial));
      }
      expect(serials(await store().listActiveIntermediates())).toEqual([e2.serial]);
      const names = async (td?: string) => sorted((await store().listRevokedClusters(td)).map((c) => c.name));
      expect(await names()).toEqual(["north", "west"]);
      expect(await names("one.example")).toEqual(["west"]);
      expect(await store().listRevokedClusters("two.example")).toEqual([north]);
      // A new generation puts the cluster back.
      await issue(store(), west, r.serial);
      expect(await names()).toEqual(["north"]);
    });

    it("answers the active and the newest intermediate of each named cluster in one call", async () => {
      const r = await seedDomain(store(), "one.example");
      const east = await seedCluster(store(), "east", "one.example");
      const west = await seedCluster(store(), "west", "one.example");
      await seedCluster(store(), "idle", "one.example");
      await issue(store(), east, r.serial);
      const e2 = await issue(store(), east, r.serial);
      const w1 = await issue(store(), west, r.serial);
      await store().revokeIntermediate(await revocation(store(), r, w1.serial), audit("intermediate.revoke", w1.serial));
      expect((await store().activeAndLatestIntermediates([])).size).toBe(0);
      const got = await store().activeAndLatestIntermediates(["east", "west", "idle", "ghost"]);
      expect([...got.keys()].sort()).toEqual(["east", "west"]);
      // Summaries: the records without key bytes; the certificate only where no subject is stored.
      const summary = (rec: IntermediateRecord | undefined) => {
        const { sealedKey: _s, certPem, ...rest } = rec!;
        return { ...rest, certPem: rec!.subject === undefined ? certPem : null };
      };
      expect(got.get("east")).toEqual({ active: summary(await store().getActiveIntermediate("east")), latest: summary(await store().getLatestIntermediate("east")) });
      expect(got.get("east")!.active!.serial).toBe(e2.serial);
      expect(JSON.stringify([...got.values()])).not.toMatch(/sealedKey":\{|BEGIN CERTIFICATE/);
      expect(got.get("west")).toEqual({ active: undefined, latest: summary(await store().getLatestIntermediate("west")) });
      expect(got.get("west")!.latest!.status).toBe("revoked");
    });
  });
}

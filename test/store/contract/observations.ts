import { describe, expect, it } from "vitest";
import type { ObservationRecord } from "../../../src/core/ports.js";
import { allAudit, audit, auditCount, day, freshStore, issue, refusal, seedCluster, seedDomain, type OpenStore } from "./fixtures.js";

const observation = (cluster: string, at: Date, over: Partial<ObservationRecord> = {}): ObservationRecord => ({
  cluster,
  observedAt: at,
  rootCertPem: `-----BEGIN CERTIFICATE-----\nroot of ${cluster}\n-----END CERTIFICATE-----\n`,
  caCertPem: null,
  crlPem: null,
  istioVersion: null,
  multiRoot: null,
  ambient: null,
  source: "json",
  facts: { bundleSha256: `sha of ${cluster}`, roots: [{ fingerprintSha256: "ab".repeat(32), serial: "01", subject: `CN=root of ${cluster}`, notAfter: "2036-01-01T00:00:00.000Z" }], caCert: null, crls: null },
  ...over,
});

const summary = ({ rootCertPem: _r, caCertPem: _c, crlPem: _l, ...rest }: ObservationRecord & { id: number }) => rest;

/** Observations (issue 10): history per cluster, newest first, each with its audit event. */
export function observationContract(open: OpenStore): void {
  const store = freshStore(open);

  describe("observations", () => {
    it("keeps every observation with every field as written, and answers the latest and the history newest first", async () => {
      await seedDomain(store(), "td.example");
      await seedCluster(store(), "east", "td.example");
      await seedCluster(store(), "west", "td.example");
      expect(await store().latestObservation("east")).toBeUndefined();
      const full = observation("east", day(0), { caCertPem: "ca", crlPem: "crl", istioVersion: "1.27.1", multiRoot: true, ambient: false, source: "configmap" });
      const first = await store().insertObservation(full, audit("cluster.observe", "east", { cluster: "east" }));
      expect(first).toEqual({ ...full, id: first.id });
      const second = await store().insertObservation(observation("east", day(1)), audit("cluster.observe", "east"));
      const third = await store().insertObservation(observation("east", day(2), { multiRoot: false, ambient: true }), audit("cluster.observe", "east"));
      await store().insertObservation(observation("west", day(3)), audit("cluster.observe", "west"));
      expect(await store().latestObservation("east")).toEqual(third);
      expect(await store().listObservations("east", { limit: 10 })).toEqual([third, second, first]);
      const page1 = await store().listObservations("east", { limit: 2 });
      expect(page1).toEqual([third, second]);
      expect(await store().listObservations("east", { limit: 2, after: String(page1[1]!.id) })).toEqual([first]);
      expect((await allAudit(store())).filter((e) => e.action === "cluster.observe")).toHaveLength(4);
    });

    it("answers the newest observation of each named cluster without PEM texts, facts as written", async () => {
      await seedDomain(store(), "td.example");
      for (const name of ["east", "west", "north"]) await seedCluster(store(), name, "td.example");
      expect((await store().latestObservationSummaries([])).size).toBe(0);
      const crls = [{ keyId: "cd".repeat(20), issuer: "CN=x", thisUpdate: "2026-01-15T12:00:00.000Z", nextUpdate: null, revoked: 3 }];
      await store().insertObservation(observation("east", day(0)), audit("cluster.observe", "east"));
      const east = await store().insertObservation(observation("east", day(1), { istioVersion: "1.28.0", multiRoot: true }), audit("cluster.observe", "east"));
      const west = await store().insertObservation(observation("west", day(2), { facts: { ...observation("west", day(2)).facts, crls } }), audit("cluster.observe", "west"));
      const got = await store().latestObservationSummaries(["east", "west", "north", "ghost"]);
      expect([...got.keys()].sort()).toEqual(["east", "west"]);
      expect(got.get("east")).toEqual(summary(east));
      expect(got.get("west")).toEqual(summary(west));
      expect(got.get("west")!.facts!.crls).toEqual(crls);
      expect(Object.keys(got.get("east")!)).not.toContain("crlPem");
    });

    it("marks the intermediate an observation reports istiod signing with, once: the first time it was seen", async () => {
      const r = await seedDomain(store(), "td.example");
      const east = await seedCluster(store(), "east", "td.example");
      const west = await seedCluster(store(), "west", "td.example");
      const e1 = await issue(store(), east, r.serial);
      const w1 = await issue(store(), west, r.serial);
      const signing = (rec: { fingerprintSha256: string; serial: string }) => ({ fingerprintSha256: rec.fingerprintSha256, serial: rec.serial, subject: "CN=x", notAfter: "2027-01-01T00:00:00.000Z" });
      const facts = (rec: { fingerprintSha256: string; serial: string }) => ({ ...observation("east", day(0)).facts, caCert: signing(rec) });
      expect((await store().getIntermediate(e1.serial))!.signingSeenAt ?? null).toBeNull();
      await store().insertObservation(observation("east", day(1), { facts: facts(e1) }), audit("cluster.observe", "east"));
      await store().insertObservation(observation("east", day(2), { facts: facts(e1) }), audit("cluster.observe", "east"));
      expect((await store().getIntermediate(e1.serial))!.signingSeenAt).toEqual(day(1));
      // Another cluster's intermediate is never marked by this one's report.
      await store().insertObservation(observation("east", day(3), { facts: facts(w1) }), audit("cluster.observe", "east"));
      expect((await store().getIntermediate(w1.serial))!.signingSeenAt ?? null).toBeNull();
      const live = await store().listLiveIssuers("td.example", day(0));
      expect(live.find((i) => i.serial === e1.serial)).toMatchObject({ generation: 1, signingSeenAt: day(1), cluster: "east" });
      expect(live.find((i) => i.serial === w1.serial)).toMatchObject({ signingSeenAt: null });
    });

    it("refuses an observation of an unknown cluster with cluster_not_found and writes nothing", async () => {
      const events = await auditCount(store());
      expect(await refusal(store().insertObservation(observation("ghost", day(0)), audit("cluster.observe", "ghost")))).toBe("cluster_not_found");
      expect(await store().latestObservation("ghost")).toBeUndefined();
      expect(await auditCount(store())).toBe(events);
    });
  });
}

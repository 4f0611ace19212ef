import { describe, expect, it } from "vitest";
import type { ObservationRecord } from "../../../src/core/ports.js";
import { allAudit, audit, auditCount, day, freshStore, refusal, seedCluster, seedDomain, type OpenStore } from "./fixtures.js";

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
  ...over,
});

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

    it("refuses an observation of an unknown cluster with cluster_not_found and writes nothing", async () => {
      const events = await auditCount(store());
      expect(await refusal(store().insertObservation(observation("ghost", day(0)), audit("cluster.observe", "ghost")))).toBe("cluster_not_found");
      expect(await store().latestObservation("ghost")).toBeUndefined();
      expect(await auditCount(store())).toBe(events);
    });
  });
}

import { describe, expect, it } from "vitest";
import { audit, auditCount, cluster, day, domain, freshStore, refusal, root, seedCluster, seedDomain, token, type OpenStore } from "./fixtures.js";

/** Trust domains, roots, clusters and API tokens. */
export function directoryContract(open: OpenStore): void {
  const store = freshStore(open);

  describe("trust domains", () => {
    it("creates, gets and lists in name order, paging with `after`", async () => {
      for (const name of ["b.example", "c.example", "a.example"]) await seedDomain(store(), name);
      expect(await store().getTrustDomain("b.example")).toEqual(domain("b.example"));
      expect(await store().getTrustDomain("nope.example")).toBeUndefined();
      const first = await store().listTrustDomains({ limit: 2 });
      expect(first.map((d) => d.name)).toEqual(["a.example", "b.example"]);
      expect((await store().listTrustDomains({ limit: 2, after: "b.example" })).map((d) => d.name)).toEqual(["c.example"]);
      expect(await store().listTrustDomains({ limit: 2, after: "c.example" })).toEqual([]);
    });

    it("updates a trust domain's settings with an audit event; an unknown name is undefined without one", async () => {
      await seedDomain(store(), "crl.example");
      expect((await store().getTrustDomain("crl.example"))!.caCrl).toBe(false);
      const before = await auditCount(store());
      expect(await store().updateTrustDomain("crl.example", { caCrl: true }, audit("trust_domain.update", "crl.example"))).toEqual({ ...domain("crl.example"), caCrl: true });
      expect((await store().getTrustDomain("crl.example"))!.caCrl).toBe(true);
      expect(await store().updateTrustDomain("none.example", { caCrl: true }, audit("trust_domain.update", "none.example"))).toBeUndefined();
      expect(await auditCount(store())).toBe(before + 1);
    });

    it("refuses a duplicate with trust_domain_exists and writes nothing", async () => {
      const first = await seedDomain(store(), "dup.example");
      const events = await auditCount(store());
      const again = root("dup.example");
      expect(await refusal(store().createTrustDomain(domain("dup.example"), again, audit("trust_domain.create", "dup.example")))).toBe("trust_domain_exists");
      expect(await store().listRoots("dup.example")).toEqual([first]);
      expect(await auditCount(store())).toBe(events);
    });

    it("lists a domain's roots (oldest generation first) with every field as written", async () => {
      const a = await seedDomain(store(), "a.example");
      const b = await seedDomain(store(), "b.example");
      expect(await store().listRoots("a.example")).toEqual([a]);
      expect(await store().listRoots("b.example")).toEqual([b]);
      expect(await store().listRoots("none.example")).toEqual([]);
    });

    it.each([
      ["a sealed reference", (serial: string) => `sealed:root:${serial}:${"0a1b2c3d".repeat(40)}`],
      ["a PKCS#11 URI", (serial: string) => `pkcs11:token=meshroot%20HSM;object=root-${serial};id=%01%02;type=private?pin-source=file:/run/secrets/pin`],
    ])("round-trips a root's keyRef exactly: %s", async (_, ref) => {
      const r = root("keys.example");
      const stored = { ...r, keyRef: ref(r.serial), imported: true, status: "retiring" as const, generation: 3 };
      await store().createTrustDomain(domain("keys.example"), stored, audit("trust_domain.create", "keys.example"));
      const [back] = await store().listRoots("keys.example");
      expect(back!.keyRef).toBe(stored.keyRef);
      expect(back).toEqual(stored);
    });
  });

  describe("clusters", () => {
    it("creates, gets, and lists by name with paging and a trust-domain filter", async () => {
      await seedDomain(store(), "one.example");
      await seedDomain(store(), "two.example");
      const made = [];
      for (const [name, td] of [["d", "one.example"], ["a", "two.example"], ["c", "one.example"], ["b", "one.example"]] as const) {
        const policy = { keyAlgorithm: "rsa-3072" as const, validityDays: 30, renewBeforeDays: 10 };
        made.push(await seedCluster(store(), name, td, { labels: { team: `t-${name}`, "ünï": "cødé" }, policy }));
      }
      expect(await store().getCluster("c")).toEqual(made[2]);
      expect(await store().getCluster("zz")).toBeUndefined();
      const names = async (page: { limit: number; after?: string }, trustDomain?: string) => (await store().listClusters(page, { trustDomain })).map((c) => c.name);
      expect(await names({ limit: 3 })).toEqual(["a", "b", "c"]);
      expect(await names({ limit: 3, after: "c" })).toEqual(["d"]);
      expect(await names({ limit: 10 }, "one.example")).toEqual(["b", "c", "d"]);
      expect(await names({ limit: 1, after: "b" }, "one.example")).toEqual(["c"]);
      expect(await names({ limit: 10 }, "two.example")).toEqual(["a"]);
      expect(await names({ limit: 10 }, "three.example")).toEqual([]);
    });

    it("refuses a duplicate with cluster_exists and writes no audit event", async () => {
      await seedDomain(store(), "one.example");
      const first = await seedCluster(store(), "east", "one.example");
      const events = await auditCount(store());
      expect(await refusal(store().createCluster(cluster("east", "one.example", { labels: { other: "x" } }), audit("cluster.create", "east")))).toBe("cluster_exists");
      expect(await store().getCluster("east")).toEqual(first);
      expect(await auditCount(store())).toBe(events);
    });

    it("updates labels and policy, returning the new record; a missing cluster is cluster_not_found", async () => {
      await seedDomain(store(), "one.example");
      const c = await seedCluster(store(), "east", "one.example");
      const labels = await store().updateCluster("east", { labels: { env: "prod" }, updatedAt: day(1) }, audit("cluster.update", "east"));
      expect(labels).toEqual({ ...c, labels: { env: "prod" }, updatedAt: day(1) });
      const policy = { keyAlgorithm: "ecdsa-p384" as const, validityDays: 10, renewBeforeDays: 3 };
      const updated = await store().updateCluster("east", { policy, updatedAt: day(2) }, audit("cluster.update", "east"));
      expect(updated).toEqual({ ...c, labels: { env: "prod" }, policy, updatedAt: day(2) });
      expect(await store().getCluster("east")).toEqual(updated);
      const events = await auditCount(store());
      expect(await refusal(store().updateCluster("west", { labels: {}, updatedAt: day(3) }, audit("cluster.update", "west")))).toBe("cluster_not_found");
      expect(await auditCount(store())).toBe(events);
    });
  });

  describe("API tokens", () => {
    it("creates, finds by hash, lists by id with paging, and counts", async () => {
      expect(await store().countTokens()).toBe(0);
      const made = [
        token("t2", { role: "admin", clusterPatterns: [], trustDomains: [] }),
        token("t1", { expiresAt: null }),
        token("t3", { role: "auditor", trustDomains: [] }),
        token("t4", { trustDomains: ["*"] }),
      ];
      for (const t of made) await store().createToken(t, audit("token.create", t.id));
      expect(await store().getTokenByHash(made[1]!.tokenHash)).toEqual(made[1]);
      // The trust-domain scope reads back as written: a list, ['*'], or none.
      expect((await store().getTokenByHash(made[1]!.tokenHash))?.trustDomains).toEqual(["cluster.local", "mesh.example.com"]);
      expect((await store().getTokenByHash(made[3]!.tokenHash))?.trustDomains).toEqual(["*"]);
      expect((await store().getTokenByHash(made[0]!.tokenHash))?.trustDomains).toEqual([]);
      expect(await store().getTokenByHash("no-such-hash")).toBeUndefined();
      expect((await store().listTokens({ limit: 2 })).map((t) => t.id)).toEqual(["t1", "t2"]);
      expect(await store().listTokens({ limit: 2, after: "t2" })).toEqual([made[2], made[3]]);
      expect(await store().countTokens()).toBe(4);
    });

    it("revokes (returning the record), and answers undefined for an unknown id without an audit event", async () => {
      const t = token("t1");
      await store().createToken(t, audit("token.create", "t1"));
      const revoked = await store().revokeToken("t1", day(1), audit("token.revoke", "t1"));
      expect(revoked).toEqual({ ...t, revokedAt: day(1) });
      expect((await store().getTokenByHash(t.tokenHash))?.revokedAt).toEqual(day(1));
      const events = await auditCount(store());
      expect(await store().revokeToken("t9", day(1), audit("token.revoke", "t9"))).toBeUndefined();
      expect(await auditCount(store())).toBe(events);
    });

    it("records the last use without an audit event", async () => {
      const t = token("t1");
      await store().createToken(t, audit("token.create", "t1"));
      const events = await auditCount(store());
      await store().touchToken("t1", day(2));
      await store().touchToken("t1", day(3));
      expect(await store().getTokenByHash(t.tokenHash)).toEqual({ ...t, lastUsedAt: day(3) });
      expect(await auditCount(store())).toBe(events);
    });
  });
}

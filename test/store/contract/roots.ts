import { describe, expect, it } from "vitest";
import { audit, auditCount, domain, freshStore, refusal, root, seedDomain, type OpenStore } from "./fixtures.js";

/** Roots across trust domains: finding one by fingerprint, and a root that serves two domains (issue 16, item 4). */
export function rootContract(open: OpenStore): void {
  const store = freshStore(open);

  describe("roots by fingerprint", () => {
    it("finds the root with a fingerprint in any trust domain, with every field as written", async () => {
      const a = await seedDomain(store(), "a.example");
      const b = await seedDomain(store(), "b.example");
      expect(await store().findRootByFingerprint(a.fingerprintSha256)).toEqual(a);
      expect(await store().findRootByFingerprint(b.fingerprintSha256)).toEqual(b);
      expect(await store().findRootByFingerprint("0".repeat(64))).toBeUndefined();
    });

    it("refuses a second trust domain with a root that already serves one with root_in_use and writes nothing", async () => {
      const first = await seedDomain(store(), "first.example");
      const events = await auditCount(store());
      const same = root("second.example", { serial: first.serial, fingerprintSha256: first.fingerprintSha256 });
      expect(await refusal(store().createTrustDomain(domain("second.example"), same, audit("trust_domain.create", "second.example")))).toBe("root_in_use");
      expect(await store().getTrustDomain("second.example")).toBeUndefined();
      expect(await store().listRoots("second.example")).toEqual([]);
      expect(await auditCount(store())).toBe(events);
    });
  });
}

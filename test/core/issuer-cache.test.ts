import { createPublicKey, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { issuerCache } from "../../src/core/issuers.js";
import type { IntermediateRecord, KeyVault } from "../../src/core/ports.js";
import { sealedRootKeys } from "../../src/keys/sealed-root-keys.js";
import { sqliteStore } from "../../src/store/sqlite/sqlite-store.js";
import { testCore, TEST_CTX } from "../helpers.js";

/**
 * The issuer cache keeps every root and the escrowed intermediates used last: one dropped past
 * the bound is opened from the vault again when it next signs, and still signs with its own key.
 */
describe("issuer cache", () => {
  async function escrowed(n: number) {
    const t = testCore(new Date().toISOString());
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    const records: IntermediateRecord[] = [];
    for (let i = 0; i < n; i++) {
      await t.core.clusters.register({ name: `c${i}`, trustDomain: "cluster.local" }, TEST_CTX);
      records.push((await t.core.issuance.issue(`c${i}`, {}, TEST_CTX)).record);
    }
    const opened: string[] = [];
    const vault: KeyVault = { ...t.vault, open: (sealed, aad) => (opened.push(aad), t.vault.open(sealed, aad)) };
    const sealed = sealedRootKeys(t.vault);
    const rootLoads: string[] = [];
    const rootKeys = { ...sealed, signerFor: (ref: string, alg: Parameters<typeof sealed.signerFor>[1]) => (rootLoads.push(ref), sealed.signerFor(ref, alg)) };
    const [root] = await sqliteStore(t.db).listRoots("cluster.local");
    return { records, opened, vault, rootKeys, root: root!, rootLoads };
  }

  it("drops the least recently used intermediate beyond the bound and opens it again on its next use", async () => {
    const { records, opened, vault, rootKeys } = await escrowed(3);
    const [a, b, c] = records as [IntermediateRecord, IntermediateRecord, IntermediateRecord];
    const cache = issuerCache({ rootKeys, vault, maxIntermediates: 2 });
    await cache.intermediate(a);
    await cache.intermediate(b);
    await cache.intermediate(a); // a is now used last: b is the oldest
    expect(opened).toEqual([`intermediate:${a.serial}`, `intermediate:${b.serial}`]);
    await cache.intermediate(c); // drops b
    await cache.intermediate(a);
    await cache.intermediate(c);
    expect(opened).toEqual([`intermediate:${a.serial}`, `intermediate:${b.serial}`, `intermediate:${c.serial}`]);
    const again = await cache.intermediate(b);
    expect(opened.at(-1)).toBe(`intermediate:${b.serial}`);
    expect(opened).toHaveLength(4);
    // The issuer opened again signs with b's key: its certificate's public key verifies it.
    const data = Buffer.from("crl to be signed");
    const signature = await again.signer.sign(data);
    const certKey = createPublicKey(b.certPem);
    expect(verify("sha256", data, { key: certKey, dsaEncoding: "der" }, signature)).toBe(true);
    expect(verify("sha256", Buffer.from("something else"), { key: certKey, dsaEncoding: "der" }, signature)).toBe(false);
  });

  it("keeps an issuer seeded at issuance within the bound, and never drops roots", async () => {
    const { records, opened, vault, rootKeys, root, rootLoads } = await escrowed(2);
    const [a, b] = records as [IntermediateRecord, IntermediateRecord];
    const cache = issuerCache({ rootKeys, vault, maxIntermediates: 1 });
    await cache.root(root);
    cache.seedIntermediate(a.serial, await issuerCache({ rootKeys, vault }).intermediate(a));
    opened.length = 0;
    await cache.intermediate(a);
    expect(opened).toEqual([]);
    await cache.intermediate(b); // drops a
    await cache.intermediate(a);
    expect(opened).toEqual([`intermediate:${b.serial}`, `intermediate:${a.serial}`]);
    await cache.root(root);
    expect(rootLoads).toEqual([root.keyRef]);
  });
});

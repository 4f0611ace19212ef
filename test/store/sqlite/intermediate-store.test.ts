import { describe, expect, it } from "vitest";
import { auditInput } from "../../../src/core/audit.js";
import { DomainError } from "../../../src/errors.js";
import { sqliteStore } from "../../../src/store/sqlite/sqlite-store.js";
import { testCore, TEST_CTX } from "../../helpers.js";

async function setup() {
  const t = testCore();
  await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
  await t.core.clusters.register({ name: "east", trustDomain: "cluster.local" }, TEST_CTX);
  return { ...t, store: sqliteStore(t.db) };
}

const auditOf = (serial: string) => auditInput(TEST_CTX, new Date(), "intermediate.issue", { type: "intermediate", id: serial }, { cluster: "east" });

describe("intermediate store", () => {
  it("supersedes the active generation in the same transaction as the insert", async () => {
    const { core, store } = await setup();
    const g1 = await core.issuance.issue("east", {}, TEST_CTX);
    const g2 = await core.issuance.issue("east", {}, TEST_CTX);
    expect(g2.record.generation).toBe(2);
    expect(g2.record.supersedes).toBe(g1.record.serial);
    const old = await store.getIntermediate(g1.record.serial);
    expect(old?.status).toBe("superseded");
    expect(old?.supersededBy).toBe(g2.record.serial);
    expect((await store.getActiveIntermediate("east"))?.serial).toBe(g2.record.serial);
  });

  it("refuses a stale generation with rotation_in_progress and writes nothing", async () => {
    const { core, store, db } = await setup();
    const g1 = await core.issuance.issue("east", {}, TEST_CTX);
    const stale = { ...g1.record, serial: "7".repeat(32), fingerprintSha256: "f".repeat(64), idempotencyKey: null };
    const err = await store.insertIntermediate(stale, auditOf(stale.serial)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect((err as DomainError).code).toBe("rotation_in_progress");
    expect(db.prepare("SELECT COUNT(*) AS n FROM intermediates").get()).toEqual({ n: 1 });
    expect((await store.getActiveIntermediate("east"))?.serial).toBe(g1.record.serial);
  });

  it("the database itself refuses a second active intermediate for a cluster", async () => {
    const { core, db } = await setup();
    await core.issuance.issue("east", {}, TEST_CTX);
    expect(() =>
      db
        .prepare(
          `INSERT INTO intermediates (serial, cluster, trust_domain, root_serial, generation, status, custody, key_algorithm, cert_pem,
            fingerprint_sha256, not_before, not_after, rotate_after, created_at)
           SELECT '11', cluster, trust_domain, root_serial, 9, 'active', 'external', key_algorithm, cert_pem, 'x', 0, 1, 1, 0 FROM intermediates`,
        )
        .run(),
    ).toThrow(/UNIQUE/);
  });

  it("returns the earlier intermediate for a repeated idempotency key instead of inserting", async () => {
    const { core, store } = await setup();
    const first = await core.issuance.issue("east", { idempotencyKey: "k1", requestHash: "h" }, TEST_CTX);
    const replay = await store.insertIntermediate({ ...first.record, serial: "1".repeat(32), generation: 2 }, auditOf("1".repeat(32)));
    expect(replay.created).toBe(false);
    expect(replay.record.serial).toBe(first.record.serial);
  });
});

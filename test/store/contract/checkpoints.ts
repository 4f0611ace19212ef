import { describe, expect, it } from "vitest";
import { GENESIS_HASH } from "../../../src/core/audit.js";
import { audit, day, freshStore, intermediate, issue, seedCluster, seedDomain, T0, token, type OpenStore } from "./fixtures.js";

/** The chain head, checkpoints of it, and the creation-event cross-check (src/core/ports.ts AuditStore). */
export function checkpointContract(open: OpenStore): void {
  const store = freshStore(open);

  describe("audit checkpoints and cross-check", () => {
    it("reports the head and the hash at any seq; nothing for an empty trail", async () => {
      const s = store();
      expect(await s.auditHead()).toBeUndefined();
      expect(await s.auditHashAt(1)).toBeUndefined();
      const e1 = await s.appendAudit(audit("test.one", "one"));
      const e2 = await s.appendAudit(audit("test.two", "two"));
      expect(e1.prevHash).toBe(GENESIS_HASH);
      expect(await s.auditHead()).toEqual({ seq: e2.seq, hash: e2.hash });
      expect(await s.auditHashAt(e1.seq)).toBe(e1.hash);
      expect(await s.auditHashAt(e2.seq + 1)).toBeUndefined();
    });

    it("answers the seq of the newest event with one of the given actions, 0 when none", async () => {
      const s = store();
      expect(await s.latestAuditSeq(["test.one"])).toBe(0);
      const e1 = await s.appendAudit(audit("test.one", "one"));
      const e2 = await s.appendAudit(audit("test.two", "two"));
      await s.appendAudit(audit("test.three", "three"));
      const e4 = await s.appendAudit(audit("test.one", "again"));
      expect(await s.latestAuditSeq(["test.one"])).toBe(e4.seq);
      expect(await s.latestAuditSeq(["test.two"])).toBe(e2.seq);
      expect(await s.latestAuditSeq(["test.two", "test.none"])).toBe(e2.seq);
      expect(await s.latestAuditSeq([])).toBe(0);
      expect(e1.seq).toBeLessThan(e2.seq);
    });

    it("stores checkpoints as given and returns the one with the highest seq, the newest on a tie", async () => {
      const s = store();
      expect(await s.latestAuditCheckpoint()).toBeUndefined();
      const a = { seq: 5, hash: "a".repeat(64), at: T0, mac: "1".repeat(64) };
      const b = { seq: 9, hash: "b".repeat(64), at: day(1), mac: "2".repeat(64) };
      const c = { seq: 9, hash: "c".repeat(64), at: day(2), mac: "3".repeat(64) };
      const older = { seq: 7, hash: "d".repeat(64), at: day(3), mac: "4".repeat(64) };
      await s.insertAuditCheckpoint(a);
      expect(await s.latestAuditCheckpoint()).toEqual(a);
      await s.insertAuditCheckpoint(b);
      await s.insertAuditCheckpoint(c);
      await s.insertAuditCheckpoint(older);
      expect(await s.latestAuditCheckpoint()).toEqual(c);
    });

    it("lists exactly the tokens and intermediates whose creation event is not in the trail", async () => {
      const s = store();
      await s.createToken(token("tok-audited"), audit("token.create", "tok-audited"));
      await s.createToken(token("tok-wrong-action"), audit("token.revoke", "tok-wrong-action"));
      const r = await seedDomain(s, "one.example");
      const east = await seedCluster(s, "east", "one.example");
      const i1 = await issue(s, east, r.serial);
      const i2 = intermediate(east, r.serial, 2, { supersedes: i1.serial });
      await s.insertIntermediate(i2, audit("intermediate.rotate", i2.serial, { cluster: "east" }));
      const orphan = intermediate(east, r.serial, 3, { supersedes: i2.serial });
      await s.insertIntermediate(orphan, audit("cluster.update", "east", { cluster: "east" }));
      expect(await s.listRowsWithoutCreationEvent()).toEqual([
        { kind: "intermediate", id: orphan.serial },
        { kind: "token", id: "tok-wrong-action" },
      ]);
    });
  });
}

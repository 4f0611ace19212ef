import { describe, expect, it } from "vitest";
import { auditInput, systemContext, verifyChain, type AuditContext, type StoredAuditEvent } from "../../../src/core/audit.js";
import type { AuditFilter, Store } from "../../../src/core/ports.js";
import { allAudit, audit, auditCount, cluster, crl, day, domain, freshStore, intermediate, issue, refusal, revocation, root, seedCluster, seedDomain, T0, token, type OpenStore } from "./fixtures.js";

async function chain(store: Store): Promise<StoredAuditEvent[]> {
  const out: StoredAuditEvent[] = [];
  for await (const e of store.readAuditChain()) if (out.push(e) > 100_000) break; // a paging bug must not loop forever
  return out;
}

const alice: AuditContext = { actor: { type: "token", id: "tok-alice", name: "alice" }, requestId: "req-1", sourceIp: "10.0.0.1" };

/** The audit trail: one event per write, one dense hash chain, filters and paging. */
export function auditContract(open: OpenStore): void {
  const store = freshStore(open);

  describe("audit trail", () => {
    it("carries exactly one event for every write that takes an audit input, and none for the others", async () => {
      const s = store();
      const steps: [string, () => Promise<unknown>, number][] = [];
      const r = root("one.example");
      const east = cluster("east", "one.example");
      const i1 = intermediate(east, r.serial, 1);
      const i2 = intermediate(east, r.serial, 2, { supersedes: i1.serial });
      const i3 = intermediate(east, r.serial, 3, { supersedes: i2.serial });
      const step = (action: string, write: (a: ReturnType<typeof audit>) => Promise<unknown>, events = 1) => steps.push([action, () => write(audit(action, action)), events]);
      step("trust_domain.create", (a) => s.createTrustDomain(domain("one.example"), r, a));
      step("cluster.create", (a) => s.createCluster(east, a));
      step("cluster.update", (a) => s.updateCluster("east", { labels: { x: "y" }, updatedAt: day(1) }, a));
      step("intermediate.issue", (a) => s.insertIntermediate(i1, a));
      step("intermediate.rotate", (a) => s.insertIntermediate(i2, a));
      step("token.create", (a) => s.createToken(token("t1"), a));
      step("token.touch", () => s.touchToken("t1", day(1)), 0);
      step("token.revoke", (a) => s.revokeToken("t1", day(1), a));
      step("crl.sign", (a) => s.insertCrl(crl(r, 1), a));
      step("crl.sign.unaudited", () => s.insertCrl(crl(r, 2), null), 0);
      step("intermediate.revoke", async (a) => s.revokeIntermediate(await revocation(s, r, i2.serial), a));
      step("intermediate.issue", (a) => s.insertIntermediate({ ...i3, supersedes: null }, a));
      step("cluster.decommission", async (a) => s.decommissionCluster("east", day(2), await revocation(s, r, i3.serial), a));
      step("request.denied", (a) => s.appendAudit(a));
      for (const [action, write, events] of steps) {
        const before = await allAudit(s);
        await write();
        const after = await allAudit(s);
        expect(after.length - before.length, action).toBe(events);
        if (events) expect(after[after.length - 1]!.action).toBe(action);
      }
    });

    it("returns the appended event, chained to the previous one, and reads it back unchanged", async () => {
      const s = store();
      const details = { n: 1, nested: { "ü": [1, null, "two"] } };
      const scope = { cluster: "east", trustDomain: "one.example" };
      const first = await s.appendAudit(auditInput(alice, T0, "cacerts.read", { type: "intermediate", id: "ab" }, scope, details, "success"));
      const second = await s.appendAudit(auditInput(systemContext("scheduler"), day(1), "request.denied", { type: "cluster", id: "west" }, {}, {}, "denied"));
      expect(first).toMatchObject({ seq: 1, prevHash: "0".repeat(64), actor: alice.actor, requestId: "req-1", sourceIp: "10.0.0.1", at: T0 });
      expect(second).toMatchObject({ seq: 2, prevHash: first.hash, outcome: "denied", cluster: null, trustDomain: null });
      expect(await allAudit(s)).toEqual([first, second]);
      expect(await s.listAudit({}, { limit: 10 })).toEqual([second, first]);
    });

    it("keeps one dense chain under concurrent appends and writes: seq 1..n, each prevHash the previous hash, verifyChain ok", async () => {
      const s = store();
      const r = await seedDomain(s, "one.example");
      const clusters = await Promise.all(Array.from({ length: 20 }, (_, i) => seedCluster(s, `c${i}`, "one.example")));
      await Promise.all([
        ...Array.from({ length: 200 }, (_, i) => s.appendAudit(audit("request.denied", `r${i}`))),
        ...clusters.map((c) => issue(s, c, r.serial)),
        ...Array.from({ length: 10 }, (_, i) => s.createToken(token(`t${i}`), audit("token.create", `t${i}`))),
      ]);
      const events = await allAudit(s);
      const n = 1 + 20 + 200 + 20 + 10;
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      events.forEach((e, i) => expect(e.prevHash).toBe(i === 0 ? "0".repeat(64) : events[i - 1]!.hash));
      const stored = await chain(s);
      expect(stored.map((e) => [e.seq, e.hash])).toEqual(events.map((e) => [e.seq, e.hash]));
      expect(verifyChain(stored)).toEqual({ ok: true, events: n, lastSeq: n, lastHash: events[n - 1]!.hash, firstBroken: null });
    });

    it("filters listAudit and pages it newest first with `before`", async () => {
      const s = store();
      const inputs = Array.from({ length: 12 }, (_, i) =>
        auditInput(
          i % 2 ? alice : systemContext("scheduler"),
          day(i),
          i % 3 ? "intermediate.issue" : "request.denied",
          { type: "intermediate", id: `serial-${i % 4}` },
          { cluster: `c${i % 2}`, trustDomain: i < 6 ? "one.example" : "two.example" },
          { i },
          i % 3 ? "success" : "denied",
        ),
      );
      for (const input of inputs) await s.appendAudit(input);
      const seqs = async (filter: AuditFilter, page: { limit: number; before?: number } = { limit: 100 }) => (await s.listAudit(filter, page)).map((e) => e.seq);
      const where = (f: (i: number) => boolean) => inputs.map((_, i) => i + 1).filter((seq) => f(seq - 1)).reverse();
      expect(await seqs({})).toEqual(where(() => true));
      expect(await seqs({ action: "request.denied" })).toEqual(where((i) => i % 3 === 0));
      expect(await seqs({ actor: "tok-alice" })).toEqual(where((i) => i % 2 === 1));
      expect(await seqs({ actor: "system" })).toEqual(where((i) => i % 2 === 0));
      expect(await seqs({ cluster: "c0" })).toEqual(where((i) => i % 2 === 0));
      expect(await seqs({ trustDomain: "two.example" })).toEqual(where((i) => i >= 6));
      expect(await seqs({ outcome: "denied" })).toEqual(where((i) => i % 3 === 0));
      expect(await seqs({ target: "serial-1" })).toEqual(where((i) => i % 4 === 1));
      expect(await seqs({ since: day(3), until: day(7) })).toEqual(where((i) => i >= 3 && i < 7));
      expect(await seqs({ actor: "tok-alice", trustDomain: "one.example", outcome: "success" })).toEqual(where((i) => i % 2 === 1 && i < 6 && i % 3 !== 0));
      expect(await seqs({}, { limit: 5 })).toEqual([12, 11, 10, 9, 8]);
      expect(await seqs({}, { limit: 5, before: 8 })).toEqual([7, 6, 5, 4, 3]);
      expect(await seqs({ cluster: "c1" }, { limit: 2, before: 8 })).toEqual([6, 4]);
      expect(await seqs({}, { limit: 5, before: 1 })).toEqual([]);
    });

    it("iterates in seq order across many pages, with and without a filter", async () => {
      const s = store();
      const n = 1234;
      for (let i = 0; i < n; i++) await s.appendAudit(audit(i % 3 ? "a.read" : "b.read", `id-${i}`, { cluster: `c${i % 2}` }));
      const seqs: number[] = [];
      for await (const e of s.iterateAudit({})) if (seqs.push(e.seq) > n) break; // a paging bug must not loop forever
      expect(seqs).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      const filtered: number[] = [];
      for await (const e of s.iterateAudit({ action: "b.read", cluster: "c1" })) filtered.push(e.seq);
      expect(filtered).toEqual(seqs.filter((seq) => (seq - 1) % 3 === 0 && (seq - 1) % 2 === 1));
      expect((await chain(s)).map((e) => e.seq)).toEqual(seqs);
      expect(verifyChain(await chain(s))).toMatchObject({ ok: true, events: n });
    });

    it("leaves no event behind a refused write", async () => {
      const s = store();
      const r = await seedDomain(s, "one.example");
      const east = await seedCluster(s, "east", "one.example");
      await issue(s, east, r.serial);
      const before = await allAudit(s);
      expect(await refusal(s.createCluster(cluster("east", "one.example"), audit("cluster.create", "east")))).toBe("cluster_exists");
      expect(await refusal(s.createTrustDomain(domain("one.example"), root("one.example"), audit("trust_domain.create", "x")))).toBe("trust_domain_exists");
      expect(await refusal(s.insertIntermediate(intermediate(east, r.serial, 5), audit("intermediate.issue", "x")))).toBe("rotation_in_progress");
      expect(await allAudit(s)).toEqual(before);
      expect(await auditCount(s)).toBe(3);
    });
  });
}

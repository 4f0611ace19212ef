import { createHmac, hkdfSync } from "node:crypto";
import { beforeEach, describe, expect, it } from "vitest";
import { checkpointMessage, type AuditCheckpoint } from "../../src/core/audit-checkpoint.js";
import { envelopeVault } from "../../src/keys/envelope-vault.js";
import { MASTER_KEY, TEST_CTX, testCore } from "../helpers.js";

// The end of the trail, anchored (issue 16, item 6): cutting, re-hashing or extending the tail
// without the master key must show in `verify`, which the chain alone cannot see.
let t: ReturnType<typeof testCore>;
const dropTriggers = () => t.db.exec("DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;");
const forge = (action: string) => t.core.audit.record(TEST_CTX, action, { type: "test", id: action }, {}, {}, "success");
const checkpointRows = () => t.db.prepare("SELECT seq, hash, at, mac FROM audit_checkpoints ORDER BY id").all() as { seq: number; hash: string; at: number; mac: string }[];

beforeEach(async () => {
  t = testCore();
  await t.core.tokens.create({ name: "admin", role: "admin" }, TEST_CTX);
  await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
  for (const name of ["a", "b", "c"]) await t.core.clusters.register({ name, trustDomain: "cluster.local" }, TEST_CTX);
  await t.core.issuance.issue("a", {}, TEST_CTX);
});

describe("audit checkpoints", () => {
  it("signs the head with HMAC-SHA256 under an HKDF key of the master key, as docs/audit.md says, once per head", async () => {
    const head = await t.core.audit.head();
    expect(head.seq).toBe(6);
    const c = await t.core.audit.checkpoint();
    expect(c).toMatchObject({ seq: 6, hash: head.hash, at: t.clock.now() });
    const key = Buffer.from(hkdfSync("sha256", MASTER_KEY, Buffer.alloc(0), "meshroot:v1:mac:meshroot-audit-checkpoint", 32));
    const message = `meshroot-audit-checkpoint:v1:6:${head.hash}:${t.clock.now().toISOString()}`;
    expect(checkpointMessage(c!)).toBe(message);
    expect(checkpointRows()).toEqual([{ seq: 6, hash: head.hash, at: t.clock.now().getTime(), mac: createHmac("sha256", key).update(message).digest("hex") }]);
    expect(await t.core.audit.checkpoint()).toBeUndefined();
    expect(checkpointRows()).toHaveLength(1);
    const v = await t.core.audit.verify();
    expect(v).toMatchObject({ ok: true, chainOk: true, checkpoint: { status: "ok", checkpoint: { seq: 6 }, eventsAfter: 0 }, missingCreationEvents: [] });
  });

  it("without a checkpoint says so, and it is not a failure", async () => {
    expect(await t.core.audit.verify()).toMatchObject({ ok: true, checkpoint: { status: "none", checkpoint: null, eventsAfter: 6 } });
  });

  it("reports deleting the last events below the checkpoint, though the shorter chain verifies", async () => {
    await t.core.audit.checkpoint();
    dropTriggers();
    t.db.prepare("DELETE FROM audit_events WHERE seq > 4").run();
    const v = await t.core.audit.verify();
    expect(v).toMatchObject({ ok: false, chainOk: true, lastSeq: 4, checkpoint: { status: "truncated", reason: expect.stringContaining("deleted from the end") } });
  });

  it("reports a tail rewritten and re-hashed", async () => {
    await t.core.audit.checkpoint();
    dropTriggers();
    t.db.prepare("DELETE FROM audit_events WHERE seq > 4").run();
    await forge("forged.one");
    await forge("forged.two");
    const v = await t.core.audit.verify();
    expect(v.chainOk).toBe(true);
    expect(v.lastSeq).toBe(6);
    expect(v).toMatchObject({ ok: false, checkpoint: { status: "rewritten", reason: expect.stringContaining("re-hashed") } });
  });

  it("events appended without the key: a checkpoint made with another key is tampering, and --expect-head catches them", async () => {
    const real = (await t.core.audit.checkpoint())!;
    await forge("forged.one");
    await forge("forged.two");
    const expectHead = { seq: real.seq, hash: real.hash };
    // Without a newer checkpoint: the chain and the old checkpoint hold, the expected head does not cover the forged events.
    let v = await t.core.audit.verify({ expectHead });
    expect(v).toMatchObject({ chainOk: true, checkpoint: { status: "ok", eventsAfter: 2 } });
    expect(v).toMatchObject({ ok: false, expectedHead: { ok: false, unanchored: 2, reason: expect.stringContaining("2 events after seq 6") } });
    // A "newer checkpoint" MACed with any other key does not verify.
    const head = await t.core.audit.head();
    const otherKey = envelopeVault(new Uint8Array(32).fill(9));
    const at = t.clock.now();
    const forged: AuditCheckpoint = { ...head, at, mac: await otherKey.mac!("meshroot-audit-checkpoint", checkpointMessage({ ...head, at })) };
    await t.db.prepare("INSERT INTO audit_checkpoints (seq, hash, at, mac) VALUES (?, ?, ?, ?)").run(forged.seq, forged.hash, at.getTime(), forged.mac);
    v = await t.core.audit.verify({ expectHead });
    expect(v).toMatchObject({ ok: false, chainOk: true, checkpoint: { status: "tampered", checkpoint: { seq: 8 } }, expectedHead: { ok: false, unanchored: 2 } });
  });

  it("an expected head that matches, or that a valid later checkpoint extends, passes; a wrong one does not", async () => {
    const first = (await t.core.audit.checkpoint())!;
    expect(await t.core.audit.verify({ expectHead: first })).toMatchObject({ ok: true, expectedHead: { ok: true, unanchored: 0 } });
    await t.core.clusters.register({ name: "d", trustDomain: "cluster.local" }, TEST_CTX);
    await t.core.audit.checkpoint();
    expect(await t.core.audit.verify({ expectHead: first })).toMatchObject({ ok: true, expectedHead: { ok: true } });
    const wrong = await t.core.audit.verify({ expectHead: { seq: first.seq, hash: "f".repeat(64) } });
    expect(wrong).toMatchObject({ ok: false, expectedHead: { ok: false, reason: expect.stringContaining("rewritten") } });
    const beyond = await t.core.audit.verify({ expectHead: { seq: 99, hash: first.hash } });
    expect(beyond).toMatchObject({ ok: false, expectedHead: { ok: false, reason: expect.stringContaining("deleted from the end") } });
  });

  it("reports a tampered checkpoint", async () => {
    await t.core.audit.checkpoint();
    t.db.exec("DROP TRIGGER audit_checkpoints_no_update");
    t.db.prepare("UPDATE audit_checkpoints SET seq = 4, hash = (SELECT hash FROM audit_events WHERE seq = 4)").run();
    const v = await t.core.audit.verify();
    expect(v).toMatchObject({ ok: false, chainOk: true, checkpoint: { status: "tampered", checkpoint: { seq: 4 }, reason: expect.stringContaining("MAC") } });
  });

  it("checkpoints are append-only in the database", async () => {
    await t.core.audit.checkpoint();
    expect(() => t.db.prepare("DELETE FROM audit_checkpoints").run()).toThrow(/append-only/);
    expect(() => t.db.prepare("UPDATE audit_checkpoints SET seq = 1").run()).toThrow(/append-only/);
  });
});

describe("creation events cross-check", () => {
  it("reports a token and an intermediate row without their creation event", async () => {
    expect((await t.core.audit.verify()).missingCreationEvents).toEqual([]);
    t.db.exec(`CREATE TEMP TABLE tok AS SELECT * FROM api_tokens LIMIT 1;
      UPDATE tok SET id = 'tok-planted', token_hash = 'planted';
      INSERT INTO api_tokens SELECT * FROM tok;`);
    const active = t.db.prepare("SELECT serial FROM intermediates LIMIT 1").pluck().get() as string;
    dropTriggers();
    t.db.prepare("DELETE FROM audit_events WHERE target_id = ?").run(active);
    const v = await t.core.audit.verify();
    expect(v.missingCreationEvents).toEqual([
      { kind: "intermediate", id: active },
      { kind: "token", id: "tok-planted" },
    ]);
    expect(v.ok).toBe(false);
  });

  it("a row whose token.create event targets its id counts as audited", async () => {
    await t.core.audit.record(TEST_CTX, "token.create", { type: "token", id: "tok-real-later" }, {}, {}, "success");
    t.db.exec(`CREATE TEMP TABLE tok AS SELECT * FROM api_tokens LIMIT 1;
      UPDATE tok SET id = 'tok-real-later', token_hash = 'later';
      INSERT INTO api_tokens SELECT * FROM tok;`);
    expect((await t.core.audit.verify()).missingCreationEvents).toEqual([]);
  });
});

describe("the background audit anchor (serve)", () => {
  it("logs the head and checkpoints when due, after 1000 new events, and not otherwise", async () => {
    const { auditAnchor } = await import("../../src/cli/background.js");
    const lines: { obj: unknown; msg: string }[] = [];
    const log = { info: (obj: unknown, msg: string) => void lines.push({ obj, msg }), error: (obj: unknown, msg: string) => void lines.push({ obj, msg }) };
    const anchor = auditAnchor(t.core, log as never);
    await anchor.checkpoint();
    const head = await t.core.audit.head();
    expect(lines).toEqual([{ obj: { auditHead: head, checkpointed: true }, msg: `audit head ${head.seq}:${head.hash}` }]);
    await forge("one.more");
    await anchor.tick(false);
    expect(checkpointRows()).toHaveLength(1);
    await anchor.tick(true);
    expect(checkpointRows().map((r) => r.seq)).toEqual([6, 7]);
    for (let i = 0; i < 1000; i++) await forge("bulk");
    await anchor.tick(false);
    expect(checkpointRows().map((r) => r.seq)).toEqual([6, 7, 1007]);
    expect(lines.map((l) => l.msg)).toHaveLength(3);
    expect((await t.core.audit.verify()).checkpoint).toMatchObject({ status: "ok", eventsAfter: 0 });
  });
});

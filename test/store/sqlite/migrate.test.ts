import { describe, expect, it } from "vitest";
import { openDatabase } from "../../../src/store/sqlite/database.js";
import { loadMigrations, migrate, migrationsCurrent } from "../../../src/store/sqlite/migrate.js";
import { canonicalJson, eventHash, GENESIS_HASH, verifyChain, type AuditEvent, type StoredAuditEvent } from "../../../src/core/audit.js";
import type { Store } from "../../../src/core/ports.js";
import { sqliteStore } from "../../../src/store/sqlite/sqlite-store.js";

async function verifyAudit(store: Store) {
  const events: StoredAuditEvent[] = [];
  for await (const e of store.readAuditChain()) events.push(e);
  return verifyChain(events);
}

describe("migrations", () => {
  it("applies every migration once and records its checksum", () => {
    const db = openDatabase(":memory:");
    const migrations = loadMigrations();
    expect(migrate(db, migrations)).toEqual(migrations.map((m) => m.version));
    expect(migrate(db, migrations)).toEqual([]);
    expect(migrationsCurrent(db, migrations)).toBe(true);
    const rows = db.prepare("SELECT version, checksum FROM schema_migrations").all();
    expect(rows).toEqual(migrations.map((m) => ({ version: m.version, checksum: m.checksum })));
  });

  it("refuses to run when an applied migration was edited", () => {
    const db = openDatabase(":memory:");
    const migrations = loadMigrations();
    migrate(db, migrations);
    const edited = migrations.map((m, i) => (i === 0 ? { ...m, checksum: "0".repeat(64) } : m));
    expect(() => migrate(db, edited)).toThrow(/changed after it was applied/);
  });

  it("refuses a database newer than the code", () => {
    const db = openDatabase(":memory:");
    migrate(db);
    expect(() => migrate(db, [])).toThrow(/file is missing/);
  });

  it("rolls back a failing migration as a whole", () => {
    const db = openDatabase(":memory:");
    const bad = { version: 1, name: "bad", checksum: "x", sql: "CREATE TABLE a (x INTEGER); CREATE TABLE a (y INTEGER);" };
    expect(() => migrate(db, [bad])).toThrow();
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'a'").get()).toBeUndefined();
    expect(db.prepare("SELECT COUNT(*) AS n FROM schema_migrations").get()).toEqual({ n: 0 });
  });

  it("turns on the durability settings of docs/architecture.md for a file database", async () => {
    const { mkdtempSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const db = openDatabase(join(mkdtempSync(join(tmpdir(), "mr-")), "x.db"));
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("synchronous", { simple: true })).toBe(2);
    expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(db.pragma("busy_timeout", { simple: true })).toBe(5000);
  });

  it("0005 rewrites an audit trail of the older layout into event text, keeping every hash valid", async () => {
    const db = openDatabase(":memory:");
    const all = loadMigrations();
    migrate(db, all.filter((m) => m.version <= 4));
    const insert = db.prepare(`INSERT INTO audit_events (seq, at, actor_type, actor_id, actor_name, action, target_type, target_id,
      cluster, trust_domain, outcome, request_id, source_ip, details, prev_hash, hash)
      VALUES (@seq, @at, @actor_type, @actor_id, @actor_name, @action, @target_type, @target_id, @cluster, @trust_domain, @outcome,
      @request_id, @source_ip, @details, @prev_hash, @hash)`);
    const names = ["admin", "ünïcødé \u2028 \"quoted\" \\ back", "tab\there\nnewline\u0001", "emoji 🔐"];
    let prevHash = GENESIS_HASH;
    const written: AuditEvent[] = [];
    for (let seq = 1; seq <= 40; seq++) {
      const partial = {
        seq,
        at: new Date(1_700_000_000_000 + seq * 1234567 + (seq % 1000)),
        actor: { type: (seq % 2 ? "token" : "system") as "token" | "system", id: `id-${seq}`, name: names[seq % names.length]! },
        action: seq % 3 ? "intermediate.issue" : "request.denied",
        target: { type: "intermediate", id: `serial-${seq}` },
        cluster: seq % 4 ? `c${seq % 5}` : null,
        trustDomain: seq % 4 ? "cluster.local" : null,
        outcome: (seq % 3 ? "success" : "denied") as "success" | "denied",
        requestId: seq % 2 ? `req-${seq}` : null,
        sourceIp: seq % 2 ? "10.0.0.1" : null,
        details: { generation: seq, nested: { b: [1, "two", null], a: true }, prevHash: "not this one", seq: -1 },
        prevHash,
      };
      const e = { ...partial, hash: eventHash(partial) };
      insert.run({
        seq, at: e.at.getTime(), actor_type: e.actor.type, actor_id: e.actor.id, actor_name: e.actor.name, action: e.action,
        target_type: e.target.type, target_id: e.target.id, cluster: e.cluster, trust_domain: e.trustDomain, outcome: e.outcome,
        request_id: e.requestId, source_ip: e.sourceIp, details: canonicalJson(e.details), prev_hash: e.prevHash, hash: e.hash,
      });
      written.push(e);
      prevHash = e.hash;
    }
    expect(migrate(db, all)).toContain(5);
    const store = sqliteStore(db);
    expect(await verifyAudit(store)).toMatchObject({ ok: true, events: 40, lastHash: prevHash });
    // The generated columns read back what the old columns held.
    const rows = db.prepare("SELECT seq, at, actor_type, actor_id, actor_name, action, target_type, target_id, cluster, trust_domain, outcome, request_id, source_ip, prev_hash, hash FROM audit_events ORDER BY seq").all();
    expect(rows).toEqual(
      written.map((e) => ({
        seq: e.seq, at: e.at.getTime(), actor_type: e.actor.type, actor_id: e.actor.id, actor_name: e.actor.name, action: e.action,
        target_type: e.target.type, target_id: e.target.id, cluster: e.cluster, trust_domain: e.trustDomain, outcome: e.outcome,
        request_id: e.requestId, source_ip: e.sourceIp, prev_hash: e.prevHash, hash: e.hash,
      })),
    );
    // Appending continues the chain; the table stays append-only.
    const next = store.appendAudit({ actor: { type: "system", id: "system", name: "t" }, requestId: null, sourceIp: null, at: new Date(), action: "x", target: { type: "t", id: "1" }, cluster: null, trustDomain: null, outcome: "success", details: {} });
    expect(await next).toMatchObject({ seq: 41, prevHash });
    expect(await verifyAudit(store)).toMatchObject({ ok: true, events: 41 });
    expect(() => db.prepare("UPDATE audit_events SET event = '{}' WHERE seq = 1").run()).toThrow(/append-only/);
    expect(() => db.prepare("DELETE FROM audit_events WHERE seq = 1").run()).toThrow(/append-only/);
  });

  it("0007 replaces each root's sealed key with a key reference holding the same bytes, and drops the column", async () => {
    const db = openDatabase(":memory:");
    const all = loadMigrations();
    migrate(db, all.filter((m) => m.version <= 6));
    db.prepare("INSERT INTO trust_domains (name, organization, created_at) VALUES ('one.example', 'One', 0)").run();
    const insert = db.prepare(`INSERT INTO roots (serial, trust_domain, generation, status, imported, key_algorithm, key_id, cert_pem,
      sealed_key, fingerprint_sha256, not_before, not_after, created_at)
      VALUES (@serial, 'one.example', @generation, 'active', 0, 'ecdsa-p256', 'k', 'pem', @sealed, @serial, 0, 1, 0)`);
    const roots = [
      { serial: "7f3a9c0d11e2", generation: 1, sealed: Buffer.from([0x00, 0xab, 0xcd, 0xef, 0x10, 0xff, 0x00]) },
      { serial: "4d00000000000000000000000000001b", generation: 2, sealed: Buffer.from(Array.from({ length: 120 }, (_, i) => (i * 37) % 256)) },
    ];
    for (const r of roots) insert.run(r);
    expect(migrate(db, all)).toEqual(all.filter((m) => m.version >= 7).map((m) => m.version));
    const columns = (db.prepare("SELECT name FROM pragma_table_info('roots')").all() as { name: string }[]).map((c) => c.name);
    expect(columns).toContain("key_ref");
    expect(columns).not.toContain("sealed_key");
    const listed = await sqliteStore(db).listRoots("one.example");
    expect(listed.map((r) => r.keyRef)).toEqual(roots.map((r) => `sealed:root:${r.serial}:${r.sealed.toString("hex")}`));
    expect(listed[0]!.keyRef).toBe("sealed:root:7f3a9c0d11e2:00abcdef10ff00");
    // No row can hold an empty reference afterwards.
    expect(() => db.prepare("UPDATE roots SET key_ref = '' WHERE generation = 1").run()).toThrow(/key_ref must not be empty|CHECK constraint failed: key_ref/);
  });

  it("0012 rebuilds roots and intermediates with the rotation statuses, keeping every row, key and reference", async () => {
    const db = openDatabase(":memory:");
    const all = loadMigrations();
    migrate(db, all.filter((m) => m.version <= 11));
    db.prepare("INSERT INTO trust_domains (name, organization, created_at) VALUES ('one.example', 'One', 0)").run();
    db.prepare(`INSERT INTO roots (serial, trust_domain, generation, status, imported, key_algorithm, key_id, cert_pem, fingerprint_sha256, not_before, not_after, created_at, key_ref)
      VALUES ('aa', 'one.example', 1, 'active', 0, 'ecdsa-p256', 'k', 'pem', 'fa', 0, 1, 0, 'sealed:root:aa:00')`).run();
    db.prepare("INSERT INTO clusters (name, trust_domain, key_algorithm, validity_days, created_at, updated_at) VALUES ('east', 'one.example', 'ecdsa-p256', 365, 0, 0)").run();
    const insert = db.prepare(`INSERT INTO intermediates (serial, cluster, trust_domain, root_serial, generation, status, custody, key_algorithm, cert_pem, sealed_key,
      fingerprint_sha256, not_before, not_after, rotate_after, supersedes, revoked_at, revocation_reason, created_at, subject)
      VALUES (@serial, 'east', 'one.example', 'aa', @generation, @status, 'escrowed', 'ecdsa-p256', 'pem', x'0102', @serial, 0, 9, 5, @supersedes, @revokedAt, @reason, 0, 'CN=x')`);
    insert.run({ serial: "01", generation: 1, status: "superseded", supersedes: null, revokedAt: null, reason: null });
    insert.run({ serial: "02", generation: 2, status: "revoked", supersedes: "01", revokedAt: 7, reason: "keyCompromise" });
    insert.run({ serial: "03", generation: 3, status: "active", supersedes: null, revokedAt: null, reason: null });
    const before = db.prepare("SELECT * FROM intermediates ORDER BY serial").all();
    const rootsBefore = db.prepare("SELECT * FROM roots").all();
    migrate(db, all.filter((m) => m.version <= 12));
    expect(db.prepare("SELECT * FROM intermediates ORDER BY serial").all()).toEqual(before);
    expect(db.prepare("SELECT * FROM roots").all()).toEqual(rootsBefore);
    expect(db.pragma("foreign_key_check")).toEqual([]);
    // The references still hold: an intermediate under a missing root, or superseding a missing one, is refused.
    expect(() => insert.run({ serial: "04", generation: 4, status: "superseded", supersedes: "99", revokedAt: null, reason: null })).toThrow(/FOREIGN KEY/);
    expect(() => db.prepare("UPDATE intermediates SET root_serial = 'zz' WHERE serial = '03'").run()).toThrow(/FOREIGN KEY/);
    // The new statuses, and still one active (and now one prepared) per cluster.
    insert.run({ serial: "05", generation: 5, status: "prepared", supersedes: null, revokedAt: null, reason: null });
    expect(() => insert.run({ serial: "06", generation: 6, status: "prepared", supersedes: null, revokedAt: null, reason: null })).toThrow(/UNIQUE/);
    expect(() => insert.run({ serial: "07", generation: 7, status: "active", supersedes: null, revokedAt: null, reason: null })).toThrow(/UNIQUE/);
    expect(() => insert.run({ serial: "08", generation: 8, status: "pending", supersedes: null, revokedAt: null, reason: null })).toThrow(/CHECK/);
    db.prepare("UPDATE roots SET status = 'prepared'").run();
    expect(() => db.prepare("UPDATE roots SET status = 'gone'").run()).toThrow(/CHECK/);
    const indexes = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'intermediates' AND sql IS NOT NULL").all() as { name: string }[]).map((r) => r.name);
    expect(indexes.sort()).toEqual(["intermediates_by_cluster_created", "intermediates_by_created", "intermediates_by_domain_created", "intermediates_by_not_after", "intermediates_by_root", "intermediates_by_status_created", "intermediates_by_supersedes", "intermediates_due", "intermediates_live", "intermediates_one_active", "intermediates_one_prepared", "intermediates_revoked_by_root"]);
  });
});

import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/store/database.js";
import { loadMigrations, migrate, migrationsCurrent } from "../../src/store/migrate.js";

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

  it("turns on the durability settings of DESIGN §7 for a file database", async () => {
    const { mkdtempSync } = await import("node:fs");
    const { join } = await import("node:path");
    const { tmpdir } = await import("node:os");
    const db = openDatabase(join(mkdtempSync(join(tmpdir(), "mr-")), "x.db"));
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("synchronous", { simple: true })).toBe(2);
    expect(db.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(db.pragma("busy_timeout", { simple: true })).toBe(5000);
  });
});

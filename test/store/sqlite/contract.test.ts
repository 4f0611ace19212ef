import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDatabase } from "../../../src/store/sqlite/database.js";
import { migrate } from "../../../src/store/sqlite/migrate.js";
import { issuanceWriter } from "../../../src/store/sqlite/issuance-writer.js";
import { sqliteStore } from "../../../src/store/sqlite/sqlite-store.js";
import { describeStorageContract } from "../contract.js";

// In memory, and in a file: WAL, real commits (group commit spans event-loop turns), and the
// durability settings the service runs with.
describeStorageContract("SQLite in memory", async () => {
  const db = openDatabase(":memory:");
  migrate(db);
  return { store: sqliteStore(db), close: () => void db.close() };
});

describeStorageContract("SQLite file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "meshroot-contract-"));
  const db = openDatabase(join(dir, "store.db"));
  migrate(db);
  return {
    store: sqliteStore(db),
    close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

// As `meshroot serve` runs it: issuances commit on the writer thread's own connection.
describeStorageContract("SQLite file, issuances on the writer thread", async () => {
  const dir = mkdtempSync(join(tmpdir(), "meshroot-contract-"));
  const file = join(dir, "store.db");
  const db = openDatabase(file);
  migrate(db);
  const writer = issuanceWriter(file);
  return {
    store: sqliteStore(db, { writer }),
    async close() {
      await writer.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

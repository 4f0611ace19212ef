import { randomBytes } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config.js";
import { openRuntime } from "../../../src/runtime.js";
import { tempDir, TEST_CTX } from "../../helpers.js";

// Issue 16, item 10: a missing master-key check row must not let a wrong key start.
const key = () => randomBytes(32).toString("base64");
const quiet = () => {};
const open = (dataDir: string, masterKey: string) => openRuntime(parseConfig({ MESHROOT_DATA_DIR: dataDir, MESHROOT_MASTER_KEY: masterKey }), quiet);
const checkRows = (dataDir: string) => {
  const db = new Database(join(dataDir, "meshroot.db"), { readonly: true });
  try {
    return db.prepare("SELECT value FROM meta WHERE key = 'master_key_check'").pluck().all() as string[];
  } finally {
    db.close();
  }
};
const deleteCheckRow = (dataDir: string) => {
  const db = new Database(join(dataDir, "meshroot.db"));
  db.prepare("DELETE FROM meta WHERE key = 'master_key_check'").run();
  db.close();
};

describe("the master-key check record", () => {
  it("a database with data but without the check row refuses every key, the right one included, and writes nothing", async () => {
    const dir = join(tempDir(), "data");
    const right = key();
    const rt = await open(dir, right);
    await rt.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    rt.close();
    deleteCheckRow(dir);

    await expect(open(dir, key())).rejects.toMatchObject({
      code: "master_key_mismatch",
      message: expect.stringMatching(/holds data \(1 trust_domains, 1 roots, .*1 audit_events\) but its master-key check record .* is missing.*refusing to start/),
    });
    expect(checkRows(dir)).toEqual([]);
    await expect(open(dir, right)).rejects.toMatchObject({ code: "master_key_mismatch" });
    expect(checkRows(dir)).toEqual([]);
  });

  it("a database that holds only tokens counts as not new", async () => {
    const dir = join(tempDir(), "data");
    const rt = await open(dir, key());
    await rt.core.tokens.create({ name: "admin", role: "admin" }, TEST_CTX);
    rt.close();
    deleteCheckRow(dir);
    await expect(open(dir, key())).rejects.toThrow(/1 api_tokens, 1 audit_events/);
  });

  it("a new database (fresh file, or migrated but empty) takes the key and records its check row", async () => {
    const dir = join(tempDir(), "data");
    const first = key();
    (await open(dir, first)).close();
    expect(checkRows(dir)).toHaveLength(1);
    // Started once, nothing written: still new, so a lost check row is re-made under the key given.
    deleteCheckRow(dir);
    const second = key();
    (await open(dir, second)).close();
    expect(checkRows(dir)).toHaveLength(1);
    await expect(open(dir, first)).rejects.toThrow(/not the one this database was created with/);
    (await open(dir, second)).close();
  });

  it("with the check row present, a wrong key is refused as before", async () => {
    const dir = join(tempDir(), "data");
    const rt = await open(dir, key());
    await rt.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    rt.close();
    await expect(open(dir, key())).rejects.toMatchObject({ code: "master_key_mismatch", message: expect.stringContaining("not the one this database was created with") });
  });
});

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/store/sqlite/database.js";
import { tempDir } from "../helpers.js";
import { CLI, client, startServer } from "./server.js";

// Issue 16, item 11: data files are owner-only; production refuses a key file others can read.
// The children inherit umask 022, under which files would otherwise be created 0644.
beforeAll(() => void process.umask(0o022));

const mode = (path: string) => statSync(path).mode & 0o777;
function run(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
function keyFile(dir: string, perm: number): string {
  const file = join(dir, `master-${perm.toString(8)}.key`);
  writeFileSync(file, randomBytes(32).toString("base64"));
  chmodSync(file, perm);
  return file;
}

describe("file modes", () => {
  it("serve (development) creates the database, -wal, -shm, admin.token and master.key 0600", async () => {
    const dir = tempDir();
    const data = join(dir, "data");
    const server = await startServer({ MESHROOT_DATA_DIR: data });
    try {
      const admin = readFileSync(join(data, "admin.token"), "utf8").trim();
      expect((await client(server.url, admin)("POST", "/v1/trust-domains", { name: "cluster.local" })).status).toBe(201);
      for (const f of ["meshroot.db", "meshroot.db-wal", "meshroot.db-shm", "admin.token", "master.key"]) {
        expect(existsSync(join(data, f)), f).toBe(true);
        expect(mode(join(data, f)).toString(8), f).toBe("600");
      }
    } finally {
      await server.stop();
    }
  });

  it("backup writes a 0600 copy, even of a database that was 0644", () => {
    const dir = tempDir();
    const data = join(dir, "data");
    const env = { MESHROOT_DATA_DIR: data, MESHROOT_MASTER_KEY_FILE: keyFile(dir, 0o600) };
    expect(run(["init"], env).code).toBe(0);
    chmodSync(join(data, "meshroot.db"), 0o644);
    const copy = join(dir, "backup.db");
    const b = run(["backup", copy], env);
    expect(b.code, b.stderr).toBe(0);
    expect(mode(copy).toString(8)).toBe("600");
    expect(run(["backup", copy], env)).toMatchObject({ code: 2, stderr: expect.stringContaining("already exists") });
  });

  it("an existing 0644 database and its -wal are narrowed to 0600 when opened", () => {
    const path = join(tempDir(), "old.db");
    const db = openDatabase(path);
    db.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1);");
    chmodSync(path, 0o644);
    chmodSync(`${path}-wal`, 0o644);
    const again = openDatabase(path);
    expect([mode(path), mode(`${path}-wal`)].map((m) => m.toString(8))).toEqual(["600", "600"]);
    again.close();
    db.close();
  });

  it("production refuses a master-key file that group or others can read, naming it and the fix; 0600 and 0400 start", () => {
    const dir = tempDir();
    for (const perm of [0o644, 0o640, 0o604]) {
      const file = keyFile(dir, perm);
      const data = join(dir, `data-${perm.toString(8)}`);
      const r = run(["init"], { MESHROOT_ENV: "production", MESHROOT_DATA_DIR: data, MESHROOT_MASTER_KEY_FILE: file });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`MESHROOT_MASTER_KEY_FILE ${file} is readable by group or others (mode 0${perm.toString(8)}): run chmod 600 ${file}`);
      expect(existsSync(join(data, "meshroot.db"))).toBe(false);
    }
    for (const perm of [0o600, 0o400]) {
      const data = join(dir, `ok-${perm.toString(8)}`);
      const r = run(["init"], { MESHROOT_ENV: "production", MESHROOT_DATA_DIR: data, MESHROOT_MASTER_KEY_FILE: keyFile(dir, perm) });
      expect(r.code, r.stderr).toBe(0);
      expect(mode(join(data, "meshroot.db")).toString(8)).toBe("600");
    }
    // Development keeps accepting it (a warning would be noise on a laptop).
    const dev = run(["init"], { MESHROOT_DATA_DIR: join(dir, "dev"), MESHROOT_MASTER_KEY_FILE: keyFile(dir, 0o644) });
    expect(dev.code, dev.stderr).toBe(0);
  });
});

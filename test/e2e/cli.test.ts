import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";
import { CLI, client, startServer } from "./server.js";

function run(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function keyFile(dir: string): string {
  const file = join(dir, "master.key");
  writeFileSync(file, randomBytes(32).toString("base64"), { mode: 0o600 });
  return file;
}

describe("meshroot CLI", () => {
  it("--help lists every command, and each has its own help", () => {
    const help = execFileSync(process.execPath, [CLI, "--help"], { encoding: "utf8" });
    for (const cmd of ["serve", "init", "token", "backup"]) expect(help).toContain(cmd);
    expect(execFileSync(process.execPath, [CLI, "token", "create", "--help"], { encoding: "utf8" })).toContain("--role <role>");
    expect(execFileSync(process.execPath, [CLI, "backup", "--help"], { encoding: "utf8" })).toContain("<file>");
  });

  it("init (production) needs an explicit master key, prints the admin token once, and refuses to run twice", async () => {
    const dir = tempDir();
    const data = join(dir, "data");
    const noKey = run(["init"], { MESHROOT_ENV: "production", MESHROOT_DATA_DIR: data });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/production needs an explicit master key/);
    expect(existsSync(join(data, "meshroot.db"))).toBe(false);

    const env = { MESHROOT_ENV: "production", MESHROOT_DATA_DIR: data, MESHROOT_MASTER_KEY_FILE: keyFile(dir) };
    const first = run(["init"], env);
    expect(first.code, first.stderr).toBe(0);
    const token = first.stdout.trim();
    expect(token).toMatch(/^mrt_/);
    expect(first.stderr).not.toContain(token);
    expect(existsSync(join(data, "admin.token"))).toBe(false);
    expect(existsSync(join(data, "master.key"))).toBe(false);
    expect(statSync(data).mode & 0o777).toBe(0o700);
    const second = run(["init"], env);
    expect(second.code).toBe(2);
    expect(second.stdout).toBe("");
    expect(second.stderr).toMatch(/already initialised/);

    // The printed token is the admin token of a production server on that data.
    const server = await startServer(env);
    try {
      expect((await client(server.url, token)("GET", "/v1/tokens")).status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  it("refuses to start with a master key other than the one the database was created with", () => {
    const dir = tempDir();
    const env = { MESHROOT_DATA_DIR: join(dir, "data"), MESHROOT_MASTER_KEY_FILE: keyFile(dir) };
    expect(run(["init"], env).code).toBe(0);
    const other = join(dir, "other.key");
    writeFileSync(other, randomBytes(32).toString("base64"));
    const r = run(["token", "create", "--name", "x", "--role", "auditor"], { ...env, MESHROOT_MASTER_KEY_FILE: other });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not the one this database was created with/);
    expect(r.stdout).toBe("");
  });

  it("token create prints a working scoped token; bad options are refused", async () => {
    const dir = tempDir();
    const env = { MESHROOT_DATA_DIR: join(dir, "data"), MESHROOT_MASTER_KEY_FILE: keyFile(dir) };
    expect(run(["init"], env).code).toBe(0);
    const r = run(["token", "create", "--name", "ci", "--role", "provisioner", "--cluster", "prod-*", "--trust-domain", "cluster.local", "mesh.example.com", "--expires-in", "30d"], env);
    expect(r.code, r.stderr).toBe(0);
    const secret = r.stdout.trim();
    const db = new Database(join(dir, "data", "meshroot.db"), { readonly: true });
    const row = db.prepare("SELECT role, cluster_patterns, trust_domains, expires_at FROM api_tokens WHERE name = 'ci'").get() as {
      role: string;
      cluster_patterns: string;
      trust_domains: string;
      expires_at: number;
    };
    db.close();
    expect(row.role).toBe("provisioner");
    expect(JSON.parse(row.cluster_patterns)).toEqual(["prod-*"]);
    expect(JSON.parse(row.trust_domains)).toEqual(["cluster.local", "mesh.example.com"]);
    expect(row.expires_at).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    expect(secret).toMatch(/^mrt_/);
    expect(run(["token", "create", "--name", "x", "--role", "root"], env).code).not.toBe(0);
    expect(run(["token", "create", "--name", "x", "--role", "admin", "--cluster", "a*"], env).code).toBe(2);
    expect(run(["token", "create", "--name", "x", "--role", "auditor", "--trust-domain", "cluster.local"], env).code).toBe(2);
  });

  it("backup writes a consistent copy while the server runs, and refuses to overwrite", async () => {
    const dir = tempDir();
    const data = join(dir, "data");
    const server = await startServer({ MESHROOT_DATA_DIR: data });
    try {
      const admin = client(server.url, (await import("node:fs")).readFileSync(join(data, "admin.token"), "utf8").trim());
      await admin("POST", "/v1/trust-domains", { name: "cluster.local" });
      const target = join(dir, "backup.db");
      const r = run(["backup", target], { MESHROOT_DATA_DIR: data });
      expect(r.code, r.stderr).toBe(0);
      const copy = new Database(target, { readonly: true });
      expect(copy.prepare("SELECT name FROM trust_domains").all()).toEqual([{ name: "cluster.local" }]);
      expect(copy.prepare("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
      copy.close();
      const again = run(["backup", target], { MESHROOT_DATA_DIR: data });
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/already exists/);
    } finally {
      await server.stop();
    }
  });

  it("audit verify reports an intact chain, and the first broken event after tampering", () => {
    const dir = tempDir();
    const env = { MESHROOT_DATA_DIR: join(dir, "data"), MESHROOT_MASTER_KEY_FILE: keyFile(dir) };
    expect(run(["init"], env).code).toBe(0);
    for (const name of ["a", "b", "c"]) expect(run(["token", "create", "--name", name, "--role", "auditor"], env).code).toBe(0);
    const ok = run(["audit", "verify"], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, events: 4, lastSeq: 4 });
    const db = new Database(join(dir, "data", "meshroot.db"));
    db.exec("DROP TRIGGER audit_events_no_update");
    expect(db.prepare(`UPDATE audit_events SET event = replace(event, '"name":"b"', '"name":"someone else"') WHERE seq = 3`).run().changes).toBe(1);
    db.close();
    const broken = run(["audit", "verify"], env);
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.stdout)).toMatchObject({ ok: false, firstBroken: { seq: 3 } });
    expect(broken.stderr).toContain("BROKEN at seq 3");
  });

  it("serve refuses bad configuration with a message per value", () => {
    const r = run(["serve"], { MESHROOT_PORT: "nope", MESHROOT_LOG_LEVEL: "loud" });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/MESHROOT_PORT: must be a port number/);
    expect(r.stderr).toMatch(/MESHROOT_LOG_LEVEL/);
    const open = run(["serve"], { MESHROOT_HOST: "0.0.0.0" });
    expect(open.code).toBe(2);
    expect(open.stderr).toMatch(/MESHROOT_HOST: listening on 0.0.0.0 without TLS/);
  });
});

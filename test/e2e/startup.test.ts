import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";
import { CLI, client, startServer } from "./server.js";

/** Runs the built CLI to completion (a refused `serve` exits by itself). */
function run(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, MESHROOT_LOG_LEVEL: "warn", ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function keyFile(dir: string): string {
  const file = join(dir, "master.key");
  writeFileSync(file, randomBytes(32).toString("base64"), { mode: 0o600 });
  return file;
}

/** One line of meshroot's own, no stack trace. */
function expectOneLine(stderr: string, pattern: RegExp) {
  const lines = stderr.trim().split("\n");
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^meshroot: /);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe("meshroot serve start-up", () => {
  it("serve --help lists every MESHROOT_* server setting with a description", () => {
    const r = run(["serve", "--help"], {});
    expect(r.code).toBe(0);
    for (const name of ["MESHROOT_DATA_DIR", "MESHROOT_PORT", "MESHROOT_ENV", "MESHROOT_MASTER_KEY_FILE", "MESHROOT_TLS_CLIENT_CA_FILE", "MESHROOT_LOG_LEVEL"]) {
      expect(r.stdout).toMatch(new RegExp(`^  ${name} +\\S`, "m"));
    }
    expect(r.stdout).toMatch(/MESHROOT_PORT +listen port.*\(default: 8080\)/);
  });

  it("warns about an unknown MESHROOT_* variable, naming the setting it probably meant; client settings are known", async () => {
    const dir = tempDir();
    const server = await startServer({
      MESHROOT_DATA_DIR: join(dir, "data"),
      MESHROOT_DATADIR: join(dir, "elsewhere"),
      MESHROOT_URL: "http://127.0.0.1:1",
      MESHROOT_TOKEN_FILE: "/nonexistent",
      MESHROOT_CA_FILE: "/nonexistent",
    });
    try {
      const warnings = server.stderr().split("\n").filter((l) => l.includes("warning:"));
      expect(warnings).toEqual([expect.stringMatching(/^meshroot: warning: MESHROOT_DATADIR is not a meshroot setting .*did you mean MESHROOT_DATA_DIR\?/)]);
    } finally {
      await server.stop();
    }
  });

  it("a second serve on the same port: one clear line, non-zero exit", async () => {
    const first = await startServer({ MESHROOT_DATA_DIR: join(tempDir(), "data") });
    try {
      const port = new URL(first.url).port;
      const data = join(tempDir(), "data");
      const second = run(["serve"], { MESHROOT_DATA_DIR: data, MESHROOT_PORT: port });
      expect(second.code).not.toBe(0);
      expectOneLine(second.stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use`));
      // Found before its fresh data directory got a master key, a database or a token.
      expect(readdirSync(data)).toEqual([]);
    } finally {
      await first.stop();
    }
  });

  it("a second serve on the same data directory is refused, naming the first; the lock goes with the first", async () => {
    const data = join(tempDir(), "data");
    const first = await startServer({ MESHROOT_DATA_DIR: data });
    const pid = first.proc.pid!;
    expect(readFileSync(join(data, "serve.lock"), "utf8").split("\n")[0]).toBe(String(pid));
    const second = run(["serve"], { MESHROOT_DATA_DIR: data, MESHROOT_PORT: "0" });
    expect(second.code).not.toBe(0);
    expectOneLine(second.stderr, new RegExp(`data directory ${data} is in use by another meshroot serve \\(pid ${pid}\\b`));
    // The refused one leaves the lock alone; a clean stop removes it.
    expect(readFileSync(join(data, "serve.lock"), "utf8").split("\n")[0]).toBe(String(pid));
    expect(await first.stop()).toBe(0);
    expect(existsSync(join(data, "serve.lock"))).toBe(false);

    // backup (and other commands that open the database) do not need the lock.
    const again = await startServer({ MESHROOT_DATA_DIR: data });
    try {
      const backup = run(["backup", join(tempDir(), "b.db")], { MESHROOT_DATA_DIR: data });
      expect(backup.code, backup.stderr).toBe(0);
    } finally {
      await again.stop();
    }
  });

  it("a lock left by a killed server, or holding a pid that no longer runs, is taken over", async () => {
    const data = join(tempDir(), "data");
    const first = await startServer({ MESHROOT_DATA_DIR: data });
    first.proc.kill("SIGKILL");
    await first.stop();
    expect(existsSync(join(data, "serve.lock"))).toBe(true);
    const second = await startServer({ MESHROOT_DATA_DIR: data });
    expect(second.stderr()).toMatch(/took over the stale lock .*serve\.lock of pid \d+, which is no longer running/);
    await second.stop();

    // A pid no process has (above the kernel's pid_max).
    writeFileSync(join(data, "serve.lock"), "99999999\nsomewhere\n");
    const third = await startServer({ MESHROOT_DATA_DIR: data });
    await third.stop();
    expect(existsSync(join(data, "serve.lock"))).toBe(false);
  });

  it("production on a data directory never initialised refuses, says to run meshroot init, and writes nothing", () => {
    const dir = tempDir();
    const data = join(dir, "data");
    const env = { MESHROOT_ENV: "production", MESHROOT_DATA_DIR: data, MESHROOT_MASTER_KEY_FILE: keyFile(dir) };
    const r = run(["serve"], env);
    expect(r.code).not.toBe(0);
    expectOneLine(r.stderr, /run meshroot init/);
    expect(existsSync(data)).toBe(false);
    // Not even with MESHROOT_ADMIN_TOKEN: the database is init's to create.
    const withToken = run(["serve"], { ...env, MESHROOT_ADMIN_TOKEN: randomBytes(24).toString("hex") });
    expect(withToken.code).not.toBe(0);
    expect(withToken.stderr).toMatch(/run meshroot init/);
    expect(existsSync(data)).toBe(false);
  });

  it("production after init starts without writing an admin token file", async () => {
    const dir = tempDir();
    const data = join(dir, "data");
    const env = { MESHROOT_ENV: "production", MESHROOT_DATA_DIR: data, MESHROOT_MASTER_KEY_FILE: keyFile(dir) };
    const init = run(["init"], env);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stderr).toMatch(/^meshroot: initialised .*: created .*meshroot\.db; the bootstrap admin token follows on stdout/);
    const server = await startServer(env);
    try {
      expect((await client(server.url, init.stdout.trim())("GET", "/v1/tokens")).status).toBe(200);
    } finally {
      await server.stop();
    }
    expect(readdirSync(data)).not.toContain("admin.token");
  });

  it("init says what happened: a token from MESHROOT_ADMIN_TOKEN is not printed; a second init changes nothing", () => {
    const dir = tempDir();
    const env = { MESHROOT_DATA_DIR: join(dir, "data"), MESHROOT_MASTER_KEY_FILE: keyFile(dir), MESHROOT_ADMIN_TOKEN: randomBytes(24).toString("hex") };
    const first = run(["init"], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe("");
    expect(first.stderr).toMatch(/the bootstrap admin token is the value of MESHROOT_ADMIN_TOKEN \(nothing is printed\)/);
    expect(first.stderr).not.toContain(env.MESHROOT_ADMIN_TOKEN);
    const second = run(["init"], env);
    expect(second.code).toBe(2);
    expect(second.stdout).toBe("");
    expectOneLine(second.stderr, /already initialised .*nothing was created.*meshroot token create/);
  });

  it("development keeps initialising on first start and says where the admin token is", async () => {
    const data = join(tempDir(), "data");
    const server = await startServer({ MESHROOT_DATA_DIR: data });
    await server.stop();
    expect(server.stderr()).toContain(`(admin token: ${join(data, "admin.token")})`);
    expect(existsSync(join(data, "admin.token"))).toBe(true);
  });
});

describe("meshroot backup", () => {
  it("into a folder that does not exist: one clear line, nothing created; into an existing file: refused", async () => {
    const data = join(tempDir(), "data");
    await (await startServer({ MESHROOT_DATA_DIR: data })).stop();
    const dir = tempDir();
    const missing = join(dir, "missing", "dir", "meshroot.db");
    const r = run(["backup", missing], { MESHROOT_DATA_DIR: data });
    expect(r.code).toBe(2);
    expectOneLine(r.stderr, new RegExp(`folder ${join(dir, "missing", "dir")} does not exist: create it first \\(mkdir -p `));
    expect(existsSync(join(dir, "missing"))).toBe(false);

    mkdirSync(join(dir, "backups"));
    const file = join(dir, "backups", "meshroot.db");
    const ok = run(["backup", file], { MESHROOT_DATA_DIR: data });
    expect(ok.code, ok.stderr).toBe(0);
    expect(existsSync(file)).toBe(true);
    const again = run(["backup", file], { MESHROOT_DATA_DIR: data });
    expect(again.code).toBe(2);
    expectOneLine(again.stderr, /already exists; choose a new file/);
  });
});

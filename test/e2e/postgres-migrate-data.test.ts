import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";
import { skipPostgres, startPostgres, type PgServer } from "../store/postgres/server.js";
import { auditVerify } from "./postgres-cluster.js";
import { CLI, client, startServer } from "./server.js";

const run = (args: string[], env: Record<string, string>) => {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, encoding: "utf8" });
  return { status: r.status, output: r.stdout + r.stderr };
};

// One throwaway server for the file: each test creates its own database on it.
describe.skipIf(skipPostgres)("PostgreSQL from the CLI", () => {
  let server: PgServer;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.stop();
  });

  describe("meshroot migrate-data", () => {
    it("copies a SQLite installation into an empty PostgreSQL database, every row and a verified chain, and refuses a non-empty target", async () => {
      const dir = tempDir();
      const keyFile = join(dir, "master.key");
      writeFileSync(keyFile, randomBytes(32).toString("base64"));
      const env = { MESHROOT_DATA_DIR: join(dir, "data"), MESHROOT_MASTER_KEY_FILE: keyFile, MESHROOT_ADMIN_TOKEN: randomBytes(24).toString("hex") };
      const sqlite = await startServer(env);
      const api = client(sqlite.url, env.MESHROOT_ADMIN_TOKEN);
      expect((await api("POST", "/v1/trust-domains", { name: "cluster.local" })).status).toBe(201);
      for (const name of ["east", "west"]) {
        expect((await api("POST", "/v1/clusters", { name, trustDomain: "cluster.local", labels: { region: name } })).status).toBe(201);
        expect((await api("POST", `/v1/clusters/${name}/intermediates`, {}, { "idempotency-key": `first-${name}` })).status).toBe(201);
      }
      const second = (await api("POST", "/v1/clusters/east/intermediates", {})).json().intermediate.serial as string;
      expect((await api("POST", `/v1/certificates/${second}/revoke`, { reason: "keyCompromise" })).status).toBe(200);
      const before = {
        east: (await api("GET", "/v1/clusters/east")).json(),
        bundle: (await api("GET", "/v1/trust-domains/cluster.local/bundle")).text,
        crl: Buffer.from(await (await fetch(`${sqlite.url}/v1/trust-domains/cluster.local/crl`)).arrayBuffer()).toString("hex"),
      };
      await sqlite.stop();

      const url = await server.createDatabase();
      const copied = run(["migrate-data", "--to", url], env);
      expect(copied.status, copied.output).toBe(0);
      expect(copied.output).toMatch(/the audit chain verifies there/);
      // Once only: the target now holds an installation.
      const again = run(["migrate-data", "--to", url], env);
      expect(again.status).not.toBe(0);
      expect(again.output).toMatch(/not empty/);

      // A replica on the copy: the same state, the same bytes, the same key; the chain verifies; backup points at pg_dump.
      const pgEnv = { ...env, MESHROOT_DATA_DIR: join(dir, "replica"), MESHROOT_DATABASE_URL: url };
      const replica = await startServer(pgEnv);
      try {
        const papi = client(replica.url, env.MESHROOT_ADMIN_TOKEN);
        expect((await papi("GET", "/v1/clusters/east")).json()).toEqual(before.east);
        expect((await papi("GET", "/v1/trust-domains/cluster.local/bundle")).text).toBe(before.bundle);
        expect(Buffer.from(await (await fetch(`${replica.url}/v1/trust-domains/cluster.local/crl`)).arrayBuffer()).toString("hex")).toBe(before.crl);
        const replay = await papi("POST", "/v1/clusters/west/intermediates", {}, { "idempotency-key": "first-west" });
        expect(replay.status).toBe(200);
        const cacerts = await papi("GET", "/v1/clusters/west/cacerts");
        expect(cacerts.status, cacerts.text).toBe(200);
        expect((await papi("POST", "/v1/clusters/west/intermediates", {})).status).toBe(201);
      } finally {
        await replica.stop();
      }
      const verdict = auditVerify(pgEnv);
      expect(verdict.status, verdict.output).toBe(0);
      const backup = run(["backup", join(dir, "b.db")], pgEnv);
      expect(backup.status).not.toBe(0);
      expect(backup.output).toMatch(/pg_dump/);
    });
  });

  describe("meshroot init on PostgreSQL", () => {
    it("bootstraps the PostgreSQL database, names it without its password, and creates no database file", async () => {
      const url = await server.createDatabase();
      const dir = tempDir();
      const keyFile = join(dir, "master.key");
      writeFileSync(keyFile, randomBytes(32).toString("base64"), { mode: 0o600 });
      const withPassword = url.replace("postgres://", "postgres://meshroot:not-this-secret@");
      const env = { MESHROOT_ENV: "production", MESHROOT_DATA_DIR: join(dir, "data"), MESHROOT_MASTER_KEY_FILE: keyFile, MESHROOT_DATABASE_URL: url };
      const init = run(["init"], env);
      expect(init.status, init.output).toBe(0);
      expect(init.output).toMatch(/initialised .*: bootstrapped the database postgres/);
      expect(init.output).not.toContain("meshroot.db");
      // A URL with a password: the message names the database, never the password (the connection is refused, as this server trusts no password).
      expect(run(["init"], { ...env, MESHROOT_DATABASE_URL: withPassword }).output).not.toContain("not-this-secret");
    });
  });
});

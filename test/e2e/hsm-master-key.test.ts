import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { dropToken, skipSofthsm, softToken, type SoftToken } from "../keys/softhsm.js";
import { tempDir } from "../helpers.js";
import { CLI, client, startServer, type Server } from "./server.js";

/**
 * The master key in the token as well (MESHROOT_PKCS11_MASTER_KEY=true): no key file anywhere,
 * not even development's generated one; the escrowed intermediate keys open only through the token.
 */
describe.skipIf(skipSofthsm)("the master key in an HSM, end to end (SoftHSM2)", () => {
  let soft: SoftToken;
  let server: Server | undefined;
  let env: Record<string, string>;
  let dataDir: string;
  const ADMIN = "hsm-master-key-admin-token-0123456789abcdef";

  beforeAll(() => {
    soft = softToken("meshroot-mk");
    const work = tempDir("meshroot-hsm-mk-");
    dataDir = join(work, "data");
    writeFileSync(join(work, "pin"), `${soft.pin}\n`, { mode: 0o600 });
    env = {
      ...soft.env,
      MESHROOT_DATA_DIR: dataDir,
      MESHROOT_ADMIN_TOKEN: ADMIN,
      MESHROOT_PKCS11_MODULE: soft.module,
      MESHROOT_PKCS11_TOKEN: soft.label,
      MESHROOT_PKCS11_PIN_FILE: join(work, "pin"),
      MESHROOT_PKCS11_MASTER_KEY: "true",
    };
  });
  afterAll(async () => {
    await server?.stop();
    dropToken(soft);
  });

  it("serves without a key file; Secrets carry keys opened through the token; the audit checkpoints verify", async () => {
    server = await startServer(env);
    const admin = client(server.url, ADMIN);
    expect((await admin("POST", "/v1/trust-domains", { name: "mk.example.com", root: { keyStorage: "pkcs11" } })).status).toBe(201);
    expect((await admin("POST", "/v1/clusters", { name: "east", trustDomain: "mk.example.com" })).status).toBe(201);
    expect((await admin("POST", "/v1/clusters/east/intermediates", {})).status).toBe(201);
    const secret = await admin("GET", "/v1/clusters/east/cacerts");
    expect(secret.status, secret.text).toBe(200);
    expect(Buffer.from(parse(secret.text).data["ca-key.pem"], "base64").toString()).toContain("BEGIN PRIVATE KEY");
    expect(readdirSync(dataDir).filter((f) => f.includes("key"))).toEqual([]);
    const verdict = (await admin("GET", "/v1/audit/verify")).json();
    expect(verdict.ok, JSON.stringify(verdict)).toBe(true);
    expect(verdict.checkpoint.status).not.toMatch(/mismatch|invalid|unsigned/);
  });

  it("answers 503 hsm_unavailable for a Secret while the token is gone, and serves it once it is back and after a restart", async () => {
    const admin = client(server!.url, ADMIN);
    soft.remove();
    try {
      const refused = await admin("GET", "/v1/clusters/east/cacerts");
      expect([refused.status, refused.json().code], refused.text).toEqual([503, "hsm_unavailable"]);
    } finally {
      soft.restore();
    }
    expect((await admin("GET", "/v1/clusters/east/cacerts")).status).toBe(200);
    await server!.stop();
    server = await startServer(env);
    expect((await client(server.url, ADMIN)("GET", "/v1/clusters/east/cacerts")).status).toBe(200);
  });

  it("initialises a production data directory with the master key in the token, and serves it", async () => {
    const prodDir = join(tempDir("meshroot-hsm-mk-prod-"), "data");
    const prod = { ...env, MESHROOT_ENV: "production", MESHROOT_DATA_DIR: prodDir };
    const init = spawnSync(process.execPath, [CLI, "init"], { env: { PATH: process.env.PATH, ...prod }, encoding: "utf8" });
    expect(init.status, init.stderr).toBe(0);
    expect(init.stderr).toContain(`initialised ${prodDir}`);
    expect(readdirSync(prodDir).filter((f) => f.includes("key") || f.includes("token"))).toEqual([]);
    const prodServer = await startServer(prod);
    try {
      expect((await client(prodServer.url, ADMIN)("POST", "/v1/trust-domains", { name: "prod.example.com", root: { keyStorage: "pkcs11" } })).status).toBe(201);
    } finally {
      await prodServer.stop();
    }
  });

  it("refuses to open the data directory with a software master key instead", () => {
    const keyFile = join(tempDir(), "master.key");
    writeFileSync(keyFile, `${Buffer.alloc(32, 7).toString("base64")}\n`, { mode: 0o600 });
    const { MESHROOT_PKCS11_MASTER_KEY: _, ...rest } = env;
    const r = spawnSync(process.execPath, [CLI, "rotate", "--due", "--dry-run"], { env: { PATH: process.env.PATH, ...rest, MESHROOT_MASTER_KEY_FILE: keyFile }, encoding: "utf8" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("is not the one this database was created with");
    expect(existsSync(join(dataDir, "master.key"))).toBe(false);
  });
});

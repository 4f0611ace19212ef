import { spawnSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";
import { CLI, client, startServer, type Server } from "./server.js";

/** Runs the built CLI with only PATH and the given environment. */
function run(args: string[], env: Record<string, string>, input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, encoding: "utf8", input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A loopback port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe("meshroot observe (client mode, against a real server)", () => {
  let server: Server;
  let dir: string;
  let env: Record<string, string>;
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  beforeAll(async () => {
    dir = tempDir();
    const data = join(dir, "data");
    server = await startServer({ MESHROOT_DATA_DIR: data });
    const admin = client(server.url, readFileSync(join(data, "admin.token"), "utf8").trim());
    expect((await admin("POST", "/v1/trust-domains", { name: "mesh.example.com" })).status).toBe(201);
    for (const name of ["east", "west"]) {
      expect((await admin("POST", "/v1/clusters", { name, trustDomain: "mesh.example.com" })).status).toBe(201);
    }
    const issued = await admin("POST", "/v1/clusters/east/intermediates");
    expect(issued.status, issued.text).toBe(201);
    const bundle = await admin("GET", "/v1/trust-domains/mesh.example.com/bundle");
    file("root-cert.pem", bundle.text);
    file("ca-cert.pem", issued.json().intermediate.certificatePem);
    // A provisioner token limited to these clusters, as a CronJob in each cluster would hold.
    const tok = await admin("POST", "/v1/tokens", { name: "observer", role: "provisioner", clusters: ["east", "west"], trustDomains: ["mesh.example.com"] });
    expect(tok.status, tok.text).toBe(201);
    env = { MESHROOT_URL: server.url, MESHROOT_TOKEN_FILE: file("token", `${tok.json().token}\n`) };
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("--help lists the database commands apart from the client-mode ones", () => {
    const help = run(["--help"], {}).stdout;
    const database = help.indexOf("Commands that open the database directly");
    const server = help.indexOf("Commands that talk to a running server");
    expect(database).toBeGreaterThan(-1);
    expect(server).toBeGreaterThan(database);
    // serve, init and backup only open the database; token, rotate and audit run in either mode
    // (their own group, between the two: test/e2e/cli-client.test.ts).
    for (const cmd of ["serve", "init", "token", "rotate", "audit", "backup"]) {
      const at = help.search(new RegExp(`^  ${cmd}\\b`, "m"));
      expect(at, cmd).toBeGreaterThan(database);
      expect(at, cmd).toBeLessThan(server);
    }
    expect(help.search(/^  observe\b/m)).toBeGreaterThan(server);
  });

  it("sends root-cert.pem and ca-cert.pem from files: converged, exit 0; --output json prints the fleet entry", () => {
    const args = ["observe", "--cluster", "east", "--root-cert", join(dir, "root-cert.pem"), "--ca-cert", join(dir, "ca-cert.pem"), "--istio-version", "1.27.2", "--multi-root"];
    const r = run(args, env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^east: converged \(trust domain mesh\.example\.com, generation 1\)\n$/);
    const json = run([...args, "--output", "json", "--fail-on-drift"], env);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ name: "east", trust: { state: "converged", reasons: [] }, istioVersion: "1.27.2" });
  });

  it("sends a ConfigMap as JSON from stdin unedited (--configmap -)", () => {
    const bundle = readFileSync(join(dir, "root-cert.pem"), "utf8");
    const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "istio-ca-root-cert", namespace: "istio-system" }, data: { "root-cert.pem": bundle } };
    const r = run(["observe", "--cluster", "west", "--configmap", "-", "--output", "json"], env, JSON.stringify(cm, null, 4));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ name: "west", trust: { state: "converged" } });
    const withFlags = run(["observe", "--cluster", "west", "--configmap", "-", "--istio-version", "1.27.2"], env, JSON.stringify(cm));
    expect(withFlags.code).toBe(2);
    expect(withFlags.stderr).toMatch(/--configmap .* does not go with --istio-version/);
  });

  it("prints each drift reason; exit 0, or 4 with --fail-on-drift", () => {
    // istiod's certificate in place of the bundle: the roots differ.
    const args = ["observe", "--cluster", "east", "--root-cert", join(dir, "ca-cert.pem")];
    const r = run(args, env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^east: drift \(trust domain mesh\.example\.com, generation 1\)\n {2}- bundle_mismatch: /);
    const failing = run([...args, "--fail-on-drift"], env);
    expect(failing.code).toBe(4);
    expect(failing.stdout).toContain("bundle_mismatch");
  });

  it("a bad token: the server's message, exit 1, and the token is never printed", () => {
    const token = "mrt_this-token-does-not-exist-0123456789abcdef";
    for (const r of [
      run(["observe", "--cluster", "east", "--root-cert", join(dir, "root-cert.pem")], { MESHROOT_URL: server.url, MESHROOT_TOKEN: token }),
      run(["observe", "--cluster", "east", "--root-cert", join(dir, "root-cert.pem"), "--token", token], { MESHROOT_URL: server.url }),
    ]) {
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/^meshroot: Unauthorized: /);
      expect(r.stderr).toMatch(/the token came from (MESHROOT_TOKEN|--token)/);
      expect(r.stderr).not.toContain(token);
    }
  });

  it("an unreachable server: one clear line, exit 3", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const r = run(["observe", "--cluster", "east", "--root-cert", join(dir, "root-cert.pem")], { ...env, MESHROOT_URL: url });
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`meshroot: cannot reach ${url}: connection refused\n`);
  });

  it("without MESHROOT_URL: a usage error naming the variable, exit 2", () => {
    const r = run(["observe", "--cluster", "east", "--root-cert", join(dir, "root-cert.pem")], { MESHROOT_TOKEN_FILE: env.MESHROOT_TOKEN_FILE! });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^meshroot: MESHROOT_URL is not set/);
    const noInput = run(["observe", "--cluster", "east"], env);
    expect(noInput.code).toBe(2);
    expect(noInput.stderr).toMatch(/--root-cert FILE .* or --configmap -/);
    const missing = run(["observe", "--cluster", "east", "--root-cert", join(dir, "nope.pem")], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--root-cert: cannot read .*nope\.pem \(ENOENT\)/);
    const noCluster = run(["observe", "--root-cert", join(dir, "root-cert.pem")], env);
    expect(noCluster.code).toBe(2);
    expect(noCluster.stderr).toMatch(/--cluster <name>/);
    expect(run(["observe", "--cluster", "east", "--root-cert", join(dir, "root-cert.pem"), "--output", "yaml"], env).code).toBe(2);
  });

  it("a file holding a private key is refused with the server's message (exit 1)", () => {
    const key = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    const r = run(["observe", "--cluster", "east", "--root-cert", file("oops.pem", key)], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^meshroot: Unprocessable Content: the body contains a private key; .*nothing was stored/);
    expect(r.stderr).not.toContain(key.split("\n")[1]);
    expect(server.stderr()).not.toContain(key.split("\n")[1]);
  });
});

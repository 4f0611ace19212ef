import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { openssl, tempDir } from "../helpers.js";
import { CLI, startServer, type Server } from "./server.js";

// The client-mode commands against one real `meshroot serve`, run from a directory that is not the
// server's: a newcomer's path from an empty server to an applied cacerts Secret, with the CLI alone.

describe("meshroot client mode (against a real server, from another directory)", () => {
  let server: Server;
  let dir: string;
  let data: string;
  let cwd: string;
  let adminToken: string;
  let env: Record<string, string>;
  const outputs: string[] = [];

  /** Runs the built CLI in `cwd` with only PATH and the given environment; keeps what it printed. */
  function run(args: string[], extra: Record<string, string> = env) {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env.PATH, ...extra }, encoding: "utf8" });
    outputs.push(r.stdout, r.stderr);
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  function ok(args: string[], extra?: Record<string, string>) {
    const r = run(args, extra);
    expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
    return r;
  }
  const json = <T = any>(args: string[]): T => JSON.parse(ok([...args, "--output", "json"]).stdout) as T;

  /** The data of a cacerts Secret manifest, decoded. */
  function secretFiles(yamlText: string): Record<string, string> {
    const secret = parse(yamlText) as { kind: string; data: Record<string, string> };
    expect(secret.kind).toBe("Secret");
    return Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
  }
  /** The issuers of the CRLs in a ca-crl.pem, sorted. */
  const crlIssuers = (pem: string) => (pem.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g) ?? []).map((c) => new x509.X509Crl(c).issuer).sort();

  beforeAll(async () => {
    dir = tempDir();
    data = join(dir, "data");
    cwd = join(dir, "elsewhere");
    mkdirSync(cwd);
    server = await startServer({ MESHROOT_DATA_DIR: data });
    adminToken = readFileSync(join(data, "admin.token"), "utf8").trim();
    writeFileSync(join(dir, "admin.token"), `${adminToken}\n`, { mode: 0o600 });
    env = { MESHROOT_URL: server.url, MESHROOT_TOKEN_FILE: join(dir, "admin.token") };
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("goes from trust-domain create to an applied cacerts Secret, rotates, revokes, and reads the inventory and audit trail", () => {
    // trust domain and clusters
    expect(ok(["trust-domain", "create", "--name", "mesh.example.com", "--organization", "Example Corp"]).stdout).toMatch(/^created trust domain mesh\.example\.com\n/);
    expect(ok(["trust-domain", "list"]).stdout).toMatch(/^NAME +ORGANIZATION .*\nmesh\.example\.com +Example Corp +1 /);
    const td = json(["trust-domain", "show", "mesh.example.com"]);
    expect(td).toMatchObject({ name: "mesh.example.com", organization: "Example Corp", caCrl: false, roots: [{ generation: 1, status: "active", keyStorage: "software" }] });
    expect(ok(["trust-domain", "update", "mesh.example.com", "--ca-crl", "true"]).stdout).toMatch(/staged rotation \(caCrl\): +yes/);
    ok(["trust-domain", "update", "mesh.example.com", "--ca-crl", "false"]);
    expect(json(["trust-domain", "create", "--name", "staged.example.com", "--ca-crl"])).toMatchObject({ caCrl: true });
    ok(["cluster", "create", "east", "--trust-domain", "mesh.example.com", "--label", "env=prod", "--label", "region=eu", "--validity-days", "90"]);
    expect(json(["cluster", "create", "west", "--trust-domain", "mesh.example.com"])).toMatchObject({ name: "west", status: "pending", activeIntermediate: null });
    expect(json(["cluster", "show", "east"])).toMatchObject({ labels: { env: "prod", region: "eu" }, policy: { validityDays: 90 } });

    // issue, with an idempotency key replayed
    const east = json(["issue", "east"]);
    expect(east).toMatchObject({ replayed: false, intermediate: { cluster: "east", generation: 1, custody: "escrowed" } });
    expect(east.cacerts["ca-key.pem"]).toBeUndefined();
    expect(ok(["issue", "west", "--idempotency-key", "ci-1"]).stdout).toMatch(/^issued generation 1 for west\n/);
    const replay = json(["issue", "west", "--idempotency-key", "ci-1"]);
    expect(replay.replayed).toBe(true);
    expect(ok(["cluster", "list"]).stdout).toMatch(/\neast +mesh\.example\.com +active +1 /);

    // cacerts > secret.yaml, checked with openssl
    const manifest = ok(["cacerts", "east", "--crl"]).stdout;
    writeFileSync(join(cwd, "secret.yaml"), manifest);
    const files = secretFiles(readFileSync(join(cwd, "secret.yaml"), "utf8"));
    expect(Object.keys(files).sort()).toEqual(["ca-cert.pem", "ca-crl.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]);
    for (const [k, v] of Object.entries(files)) writeFileSync(join(cwd, k), v);
    expect(openssl(["verify", "-x509_strict", "-CAfile", join(cwd, "root-cert.pem"), join(cwd, "ca-cert.pem")])).toMatch(/: OK/);
    expect(parse(ok(["cacerts", "east", "--format", "tls", "--namespace", "mesh"]).stdout)).toMatchObject({ type: "kubernetes.io/tls", metadata: { namespace: "mesh" } });
    expect(JSON.parse(ok(["cacerts", "east", "--output", "json"]).stdout)).toMatchObject({ kind: "Secret" });

    // revoke west: it becomes due. Copy the database first, for the offline rotation below.
    const westSerial = replay.intermediate.serial as string;
    const colons = westSerial.toUpperCase().match(/../g)!.join(":");
    expect(json(["revoke", colons, "--reason", "keyCompromise"])).toMatchObject({ serial: westSerial, status: "revoked", revocationReason: "keyCompromise" });
    const copy = join(dir, "copy");
    mkdirSync(copy, { mode: 0o700 });
    ok(["backup", join(copy, "meshroot.db")], { MESHROOT_DATA_DIR: data });

    // rotate in client mode: the run, then each rotated cluster's Secret with ca-crl.pem
    const out = join(cwd, "rotated", "client");
    const report = JSON.parse(ok(["rotate", "--due", "--out", out, "--crl"]).stdout);
    expect(report.rotated.map((r: { cluster: string }) => r.cluster)).toEqual(["west"]);
    expect(readdirSync(out)).toEqual(["west.yaml"]);
    expect(statSync(join(out, "west.yaml")).mode & 0o777).toBe(0o600);
    const viaServer = secretFiles(readFileSync(join(out, "west.yaml"), "utf8"));

    // the same rotation offline, on the copy of the database: the same Secret structure
    const offlineOut = join(cwd, "rotated", "offline");
    const offline = ok(["rotate", "--due", "--out", offlineOut, "--crl"], { MESHROOT_DATA_DIR: copy, MESHROOT_MASTER_KEY_FILE: join(data, "master.key") });
    expect(JSON.parse(offline.stdout).rotated.map((r: { cluster: string }) => r.cluster)).toEqual(["west"]);
    const viaDatabase = secretFiles(readFileSync(join(offlineOut, "west.yaml"), "utf8"));
    expect(Object.keys(viaDatabase).sort()).toEqual(Object.keys(viaServer).sort());
    expect(Object.keys(viaServer)).toContain("ca-crl.pem");
    expect(crlIssuers(viaDatabase["ca-crl.pem"]!)).toEqual(crlIssuers(viaServer["ca-crl.pem"]!));
    expect(crlIssuers(viaServer["ca-crl.pem"]!)).toHaveLength(3); // the root's, east gen 1, west gen 2
    expect(offline.stderr).toMatch(/rotation: 1 rotated/);
    // --all offline: every escrowed cluster's Secret, each with the trust domain's one ca-crl.pem
    const allOut = join(cwd, "rotated", "all");
    ok(["rotate", "--due", "--out", allOut, "--crl", "--all"], { MESHROOT_DATA_DIR: copy, MESHROOT_MASTER_KEY_FILE: join(data, "master.key") });
    expect(readdirSync(allOut).sort()).toEqual(["east.yaml", "west.yaml"]);
    const [eastAll, westAll] = ["east", "west"].map((c) => secretFiles(readFileSync(join(allOut, `${c}.yaml`), "utf8")));
    expect(eastAll!["ca-crl.pem"]).toBe(westAll!["ca-crl.pem"]);
    expect(westAll!["ca-cert.pem"]).toBe(viaDatabase["ca-cert.pem"]);

    // inventory
    const inventory = json<{ serial: string; status: string; generation: number }[]>(["inventory", "--cluster", "west"]);
    expect(inventory.map((i) => [i.generation, i.status])).toEqual([[2, "active"], [1, "revoked"]]);
    expect(ok(["inventory", "--status", "revoked"]).stdout).toMatch(new RegExp(`\\n${westSerial} +west +mesh\\.example\\.com +1 +revoked .* keyCompromise\\n$`));

    // tokens: the new secret is printed once, on stdout; list and revoke
    const created = ok(["token", "create", "--name", "ci", "--role", "provisioner", "--cluster", "prod-*", "--trust-domain", "mesh.example.com", "--expires-in", "30d"]);
    expect(created.stdout).toMatch(/^mrt_\S+\n$/);
    expect(created.stderr).toMatch(/created token \S+ \(provisioner\) on http:\/\/127\.0\.0\.1/);
    const tokens = json<{ id: string; name: string; revokedAt: string | null }[]>(["token", "list"]);
    const ci = tokens.find((t) => t.name === "ci")!;
    expect(ci.revokedAt).toBeNull();
    expect(ok(["token", "list"]).stdout).toMatch(/clusters prod-\* in mesh\.example\.com/);
    expect(ok(["token", "revoke", ci.id]).stdout).toMatch(new RegExp(`^revoked token ${ci.id}\\n`));
    const ciEnv = { MESHROOT_URL: server.url, MESHROOT_TOKEN: created.stdout.trim() };
    const refusedToken = run(["cluster", "list"], ciEnv);
    expect(refusedToken.code).toBe(1);
    expect(refusedToken.stderr).not.toContain(created.stdout.trim());

    // audit
    const verdict = ok(["audit", "verify"]);
    expect(JSON.parse(verdict.stdout)).toMatchObject({ ok: true, chainOk: true });
    expect(verdict.stderr).toMatch(/audit chain intact \(http:\/\/127\.0\.0\.1:\d+\)/);
    const exported = ok(["audit", "export", "--cluster", "west"]).stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(exported.map((e) => e.action)).toContain("intermediate.revoke");

    // decommission
    expect(json(["cluster", "decommission", "east"])).toMatchObject({ name: "east", status: "decommissioned" });
  });

  it("a refused request exits 1 with the server's detail; bad flags exit 2; the caller's token is never printed", () => {
    const again = run(["cluster", "create", "west", "--trust-domain", "mesh.example.com"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^meshroot: .*west/);
    const missing = run(["trust-domain", "show", "nowhere.example.com"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nowhere\.example\.com/);
    expect(run(["revoke", "00ff", "--reason", "bored"]).code).toBe(2);
    expect(run(["cluster", "create", "x", "--trust-domain", "mesh.example.com", "--label", "novalue"]).code).toBe(2);
    expect(run(["trust-domain", "create", "--name", "a.example.com", "--import-cert", "c.pem"]).stderr).toMatch(/needs --import-cert FILE and its key: --import-key FILE, or --import-key-uri pkcs11:/);
    expect(run(["trust-domain", "create", "--name", "a.example.com", "--import-cert", "c.pem", "--import-key", "k.pem", "--import-key-uri", "pkcs11:id=%01"]).code).toBe(2);
    expect(run(["trust-domain", "update", "mesh.example.com", "--ca-crl", "maybe"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--ca-crl takes true or false/) });
    // Without MESHROOT_PKCS11_* on the server, an HSM root is refused with the server's reason.
    expect(run(["trust-domain", "create", "--name", "hsm.example.com", "--key-storage", "pkcs11"])).toMatchObject({ code: 1, stderr: expect.stringMatching(/pkcs11_not_configured/) });
    expect(run(["trust-domain", "list"], { MESHROOT_TOKEN_FILE: env.MESHROOT_TOKEN_FILE! })).toMatchObject({ code: 2, stderr: expect.stringMatching(/MESHROOT_URL is not set/) });
    // A dual-mode command: client flags without a server, and --offline with them, are usage errors.
    expect(run(["audit", "verify", "--token-file", env.MESHROOT_TOKEN_FILE!], {})).toMatchObject({ code: 2, stderr: expect.stringMatching(/client-mode flag: set MESHROOT_URL or --url/) });
    expect(run(["rotate", "--due", "--offline", "--url", server.url], {})).toMatchObject({ code: 2, stderr: expect.stringMatching(/--offline opens the database directly/) });
    for (const text of outputs) expect(text).not.toContain(adminToken);
  });

  it("--help says which mode each command runs in", () => {
    const help = run(["--help"], {}).stdout;
    const database = help.indexOf("Commands that open the database directly");
    const either = help.indexOf("open the database otherwise");
    const server = help.indexOf("Commands that talk to a running server");
    expect(database).toBeGreaterThan(-1);
    expect(either).toBeGreaterThan(database);
    expect(server).toBeGreaterThan(either);
    const at = (cmd: string) => help.search(new RegExp(`^  ${cmd}\\b`, "m"));
    for (const cmd of ["serve", "init", "backup"]) expect(at(cmd), cmd).toBeGreaterThan(database), expect(at(cmd), cmd).toBeLessThan(either);
    for (const cmd of ["token", "rotate", "audit"]) expect(at(cmd), cmd).toBeGreaterThan(either), expect(at(cmd), cmd).toBeLessThan(server);
    for (const cmd of ["observe", "trust-domain", "cluster", "issue", "cacerts", "revoke", "inventory"]) expect(at(cmd), cmd).toBeGreaterThan(server);
    expect(run(["token", "--help"], {}).stdout).toMatch(/list \[options\] +list API tokens, never their secrets \[client mode\]/);
    expect(run(["audit", "verify", "--help"], {}).stdout).toMatch(/--offline/);
  });
});

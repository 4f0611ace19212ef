import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { makeCsr, openssl, tempDir } from "../helpers.js";
import { CLI, startServer, type Server } from "./server.js";

// `meshroot root-rotation` against one real server: two escrowed clusters from steady to done,
// each cluster applying (here: writing out) its refreshed cacerts Secret and reporting it with
// `meshroot observe` after every step, and openssl checking what a cluster holds at each phase.

const TD = "rr.example.com";
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;

describe("meshroot root-rotation (client mode, against a real server)", () => {
  let server: Server;
  let dir: string;
  let env: Record<string, string>;
  let adminToken: string;
  const outputs: string[] = [];

  function run(args: string[], extra: Record<string, string> = env) {
    const r = spawnSync(process.execPath, [CLI, ...args], { cwd: dir, env: { PATH: process.env.PATH, ...extra }, encoding: "utf8" });
    outputs.push(r.stdout, r.stderr);
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  function ok(args: string[]) {
    const r = run(args);
    expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
    return r;
  }
  const json = <T = any>(args: string[]): T => JSON.parse(ok([...args, "--output", "json"]).stdout) as T;

  /** Writes the cluster's current cacerts Secret files (as `kubectl apply` would hand them to istiod) to <dir>/<cluster>/. */
  function applySecret(cluster: string): Record<string, string> {
    const secret = parse(ok(["cacerts", cluster, "--crl"]).stdout) as { data: Record<string, string> };
    const files = Object.fromEntries(Object.entries(secret.data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
    mkdirSync(join(dir, cluster), { recursive: true });
    for (const [k, v] of Object.entries(files)) writeFileSync(join(dir, cluster, k), v);
    return files;
  }
  /** Reports what the cluster loaded: the files of its last applied Secret. */
  function observe(cluster: string) {
    const f = (name: string) => join(dir, cluster, name);
    return ok(["observe", "--cluster", cluster, "--root-cert", f("root-cert.pem"), "--ca-cert", f("ca-cert.pem"), "--crl", f("ca-crl.pem"), "--multi-root"]);
  }
  /** openssl: the cluster's ca-cert.pem against the root-cert.pem of `against` (itself by default), with every CRL checked. */
  function verify(cluster: string, against = cluster) {
    const f = (c: string, name: string) => join(dir, c, name);
    return openssl(["verify", "-x509_strict", "-crl_check_all", "-CAfile", f(against, "root-cert.pem"), "-CRLfile", f(against, "ca-crl.pem"), f(cluster, "ca-cert.pem")]);
  }
  const applyAndReport = (...clusters: string[]) => clusters.forEach((c) => (applySecret(c), observe(c)));
  const roots = (cluster: string) => readFileSync(join(dir, cluster, "root-cert.pem"), "utf8").match(PEM_CERT)!;

  beforeAll(async () => {
    dir = tempDir();
    server = await startServer({ MESHROOT_DATA_DIR: join(dir, "data") });
    adminToken = readFileSync(join(dir, "data", "admin.token"), "utf8").trim();
    writeFileSync(join(dir, "admin.token"), `${adminToken}\n`, { mode: 0o600 });
    env = { MESHROOT_URL: server.url, MESHROOT_TOKEN_FILE: join(dir, "admin.token") };
  });

  afterAll(async () => {
    await server?.stop();
  });

  it("walks two escrowed clusters from steady to done: gates refuse and name clusters, a canary switch, a forced drop-old, openssl at every phase", () => {
    ok(["trust-domain", "create", "--name", TD]);
    for (const c of ["east", "west"]) ok(["cluster", "create", c, "--trust-domain", TD]), ok(["issue", c]);
    applyAndReport("east", "west");
    const [A] = roots("east");
    expect(verify("east")).toMatch(/: OK/);

    // start: prepared, nothing clusters load changes
    const started = ok(["root-rotation", "start", TD, "--workload-cert-ttl", "1"]);
    expect(started.stdout).toMatch(/^started a root rotation of rr\.example\.com: new root generation 2 \(\w+\), prepared/);
    expect(started.stdout).toMatch(/next: meshroot root-rotation advance rr\.example\.com/);
    const status = json(["root-rotation", "status", TD]);
    expect(status).toMatchObject({ trustDomain: TD, phase: "prepared", workloadCertTtlHours: 1, newRoot: { generation: 2, status: "prepared" }, gate: { next: "trust-both", met: true } });
    expect(status.clusters.map((c: any) => [c.name, c.custody, c.switched, c.active.root, c.rootCertPem.join("+"), c.prepared?.generation])).toEqual([
      ["east", "escrowed", false, "old", "old", 2],
      ["west", "escrowed", false, "old", "old", 2],
    ]);
    const human = ok(["root-rotation", "status", TD]).stdout;
    expect(human).toMatch(/^trust domain: +rr\.example\.com\nphase: +prepared\nhistory: +prepared \d{4}-\d\d-\d\dT[\d:]+Z\n/);
    expect(human).toMatch(/\ngate: +trust-both: met\n/);
    expect(human).toMatch(/\nCLUSTER +CUSTODY +SWITCHED +ACTIVE ROOT +ROOT-CERT\.PEM +LAST OBSERVED +GATE +DETAIL\neast +escrowed +no +old +old +\d{4}-[\d-]+T[\d:]+Z +met +-\n/);
    expect(applySecret("east")["root-cert.pem"]).toBe(A);

    // trust-both: root-cert.pem is A then B, A's bytes first and unchanged
    expect(ok(["root-rotation", "advance", TD]).stdout).toMatch(/^rr\.example\.com: moved to trust-both\napply every cluster's refreshed Secret/);
    applySecret("east");
    applySecret("west");
    const [a, B, ...more] = roots("east");
    expect([a, more]).toEqual([A, []]);
    expect(readFileSync(join(dir, "east", "root-cert.pem"), "utf8")).toBe(A + B);
    expect(verify("east", "west")).toMatch(/: OK/);

    // refused until both clusters report it: exit 1, each blocking cluster named with why
    const refused = run(["root-rotation", "advance", TD]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^meshroot: cannot move from trust-both to sign-new: 2 cluster\(s\) not ready\n/);
    expect(refused.stderr).toMatch(/\n {2}east: bundle_not_loaded: root-cert\.pem is not yet the old root followed by the new one\n {2}west: bundle_not_loaded: /);
    expect(refused.stderr).toMatch(/--force --reason TEXT overrides the gate/);
    observe("east");
    const onlyWest = run(["root-rotation", "advance", TD]);
    expect([onlyWest.code, /\n {2}east:/.test(onlyWest.stderr), /\n {2}west: bundle_not_loaded/.test(onlyWest.stderr)]).toEqual([1, false, true]);
    observe("west");

    // sign-new: a canary first, then advance switches the rest
    expect(ok(["root-rotation", "advance", TD]).stdout).toMatch(/^rr\.example\.com: moved to sign-new\n/);
    expect(verify("east")).toMatch(/: OK/); // still int_A until switched
    expect(ok(["root-rotation", "switch", TD, "east"]).stdout).toMatch(/^rr\.example\.com: switched east to its intermediate under the new root\n/);
    applyAndReport("east");
    expect(readFileSync(join(dir, "east", "root-cert.pem"), "utf8")).toBe(A + B + B);
    expect(new x509.X509Certificate(readFileSync(join(dir, "east", "ca-cert.pem"), "utf8")).issuer).toBe(new x509.X509Certificate(B!).subject);
    expect(verify("east")).toMatch(/: OK/);
    expect(verify("east", "west")).toMatch(/: OK/); // a switched cluster's chain, against a peer not yet switched
    expect(verify("west", "east")).toMatch(/: OK/);
    expect(json(["root-rotation", "status", TD]).clusters.map((c: any) => [c.name, c.switched, c.active.root, c.rootCertPem.join("+")])).toEqual([
      ["east", true, "new", "old+new+new"],
      ["west", false, "old", "old+new"],
    ]);
    const rest = ok(["root-rotation", "advance", TD]);
    expect(rest.stdout).toMatch(/^rr\.example\.com: switched west to their intermediates under the new root\n/);
    applyAndReport("west");
    expect(verify("west")).toMatch(/: OK/);
    expect(verify("west", "east")).toMatch(/: OK/);

    // drop-old waits the workload certificate lifetime after the last switch: forced, with a reason
    const early = run(["root-rotation", "advance", TD]);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/not before \d{4}-/);
    expect(early.stderr).toMatch(/\(workloadCertTtl\) workload certificates under the old root may live until/);
    expect(run(["root-rotation", "advance", TD, "--force"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--force needs --reason/) });
    const forced = json(["root-rotation", "advance", TD, "--force", "--reason", "test: no workloads under the old root"]);
    expect(forced).toMatchObject({ movedTo: "drop-old", switched: [], forced: [], rotation: { phase: "drop-old", gate: { next: "done" } } });

    // drop-old: B alone; done once every cluster reports it
    const before = run(["root-rotation", "advance", TD]);
    expect(before.stderr).toMatch(/\n {2}east: old_root_still_loaded: /);
    applyAndReport("east", "west");
    for (const c of ["east", "west"]) expect(readFileSync(join(dir, c, "root-cert.pem"), "utf8")).toBe(B);
    expect(verify("east", "west")).toMatch(/: OK/);
    expect(verify("west", "east")).toMatch(/: OK/);
    expect(ok(["root-rotation", "advance", TD]).stdout).toMatch(/^rr\.example\.com: moved to done\n/);
    const done = json(["root-rotation", "status", TD]);
    expect(done).toMatchObject({ phase: "done", oldRoot: { status: "retired" }, newRoot: { status: "active" }, gate: { next: null } });
    expect(done.history.map((h: any) => h.phase)).toEqual(["prepared", "trust-both", "sign-new", "drop-old", "done"]);
    expect(ok(["root-rotation", "status", TD]).stdout).toMatch(/\ngate: +none \(the rotation is over\)\n/);
    expect(run(["root-rotation", "advance", TD]).code).toBe(1);
  });

  it("prepares an external-custody cluster from a CSR, rolls back, and refuses bad flags with exit 2", async () => {
    const td = "ext.example.com";
    ok(["trust-domain", "create", "--name", td]);
    ok(["cluster", "create", "ext", "--trust-domain", td]);
    writeFileSync(join(dir, "first.csr"), (await makeCsr()).pem);
    ok(["issue", "ext", "--csr", join(dir, "first.csr")]);
    const started = ok(["root-rotation", "start", td]);
    expect(started.stdout).toMatch(/external key custody: ext must send a CSR first: meshroot root-rotation csr ext\.example\.com <cluster> --csr FILE/);
    ok(["root-rotation", "advance", td]);
    expect(run(["root-rotation", "advance", td]).stderr).toMatch(/\n {2}ext: csr_required: /);
    writeFileSync(join(dir, "next.csr"), (await makeCsr()).pem);
    const csr = ok(["root-rotation", "csr", td, "ext", "--csr", join(dir, "next.csr")]);
    expect(csr.stdout).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
    expect(csr.stderr).toMatch(/prepared generation 2 of ext under the new root/);
    const view = json(["root-rotation", "status", td]);
    expect(new x509.X509Certificate(csr.stdout).issuer).toBe(view.newRoot.subject);
    expect(view.clusters[0]).toMatchObject({ custody: "external", prepared: { generation: 2 }, gate: { code: "never_observed" } });

    expect(ok(["root-rotation", "rollback", td, "--reason", "test"]).stdout).toMatch(/^ext\.example\.com: rolled back to prepared\n/);
    expect(ok(["root-rotation", "rollback", td]).stdout).toMatch(/^ext\.example\.com: rolled back to rolled-back\nthe new root is retired/);
    expect(run(["root-rotation", "rollback", td])).toMatchObject({ code: 1, stderr: expect.stringMatching(/no root rotation in progress/) });

    expect(run(["root-rotation", "start", td, "--import-cert", "c.pem"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/needs both --import-cert FILE and --import-key FILE/) });
    expect(run(["root-rotation", "start", td, "--workload-cert-ttl", "0"]).code).toBe(2);
    expect(run(["root-rotation", "advance", td, "--reason", "x"])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--reason goes with --force/) });
    expect(run(["root-rotation", "csr", td, "ext"]).code).toBe(2);
    expect(run(["root-rotation", "status", "nowhere.example.com"])).toMatchObject({ code: 1, stderr: expect.stringMatching(/nowhere\.example\.com/) });
    expect(run(["--help"], {}).stdout).toMatch(/\n {2}root-rotation /);
    for (const text of outputs) expect(text).not.toContain(adminToken);
  });
});

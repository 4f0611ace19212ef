import * as x509 from "@peculiar/x509";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keyGenParams, signingAlgorithm } from "../src/x509/key-algorithms.js";
import { postgresMissing, startPostgres } from "../test/store/postgres/server.js";

/**
 * CSR-mode issuance with SQLite, with one PostgreSQL replica, and with two replicas on one
 * database (the load split between them), same machine, same run (issue 13). PostgreSQL runs
 * with its durable defaults (fsync on), initdb'ed into a temporary folder like the tests' server.
 */
export interface PgBenchDeps {
  cli: string;
  workDir(): { dir: string; env: Record<string, string> };
  startServer(env: Record<string, string>): Promise<{ url: string; stop(): Promise<void> }>;
  load(url: string, token: string, opts: { connections: number; duration: number; method?: "GET" | "POST"; paths: (i: number) => string; body?: string }): Promise<{ rps: number; p50: number; p99: number; non2xx: number; errors: number }>;
  record(r: { figure: string; value: string; target: string; baseline: string; ratio: string; pass: boolean | null }): void;
  fmt(n: number, d?: number): string;
  duration: number;
}

const CLUSTERS = 1000;
const CONNECTIONS = 16;

async function seed(url: string, token: string): Promise<void> {
  const post = async (path: string, body: unknown) => {
    const r = await fetch(url + path, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    if (r.status !== 201) throw new Error(`POST ${path}: ${r.status} ${(await r.text()).slice(0, 300)}`);
  };
  await post("/v1/trust-domains", { name: "bench.example" });
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < CLUSTERS) await post("/v1/clusters", { name: `c${next++}`, trustDomain: "bench.example" });
    }),
  );
}

export async function postgresFigures(d: PgBenchDeps): Promise<void> {
  if (postgresMissing) {
    d.record({ figure: "CSR issuance on PostgreSQL", value: "not measured: PostgreSQL is not installed (apt-get install postgresql)", target: "—", baseline: "—", ratio: "—", pass: null });
    return;
  }
  const keys = (await crypto.subtle.generateKey(keyGenParams("ecdsa-p256"), true, ["sign", "verify"])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: "CN=bench", keys, signingAlgorithm: signingAlgorithm("ecdsa-p256") });
  const body = JSON.stringify({ csrPem: csr.toString("pem") });
  const paths = (offset: number) => (i: number) => `/v1/clusters/c${(i * 2 + offset) % CLUSTERS}/intermediates`;
  const figure = (run: { rps: number; p50: number; p99: number; non2xx: number; errors: number }) =>
    `${d.fmt(run.rps)}/s (p50 ${run.p50} ms, p99 ${run.p99} ms${run.non2xx || run.errors ? `; ${run.non2xx} non-2xx, ${run.errors} errors` : ""})`;

  // SQLite, the same way, as the baseline.
  const lite = d.workDir();
  const liteServer = await d.startServer(lite.env);
  await seed(liteServer.url, lite.env.MESHROOT_ADMIN_TOKEN!);
  const liteRun = await d.load(liteServer.url, lite.env.MESHROOT_ADMIN_TOKEN!, { connections: CONNECTIONS, duration: d.duration, method: "POST", paths: paths(0), body });
  await liteServer.stop();

  const server = await startPostgres({ durable: true });
  try {
    const url = await server.createDatabase();
    const dir = mkdtempSync(join(tmpdir(), "meshroot-bench-pg-"));
    const keyFile = join(dir, "master.key");
    writeFileSync(keyFile, randomBytes(32).toString("base64"), { mode: 0o600 });
    const common = {
      MESHROOT_ENV: "production",
      MESHROOT_DATABASE_URL: url,
      MESHROOT_MASTER_KEY_FILE: keyFile,
      MESHROOT_ADMIN_TOKEN: randomBytes(24).toString("hex"),
      MESHROOT_LOG_LEVEL: "warn",
      MESHROOT_MAX_ISSUANCES_PER_CLUSTER_PER_DAY: "10000",
    };
    const envs = [0, 1].map((i) => ({ ...common, MESHROOT_DATA_DIR: join(dir, `replica-${i}`) }));
    const init = spawnSync(process.execPath, [d.cli, "init"], { env: { PATH: process.env.PATH, ...envs[0] }, encoding: "utf8" });
    if (init.status !== 0) throw new Error(`meshroot init on PostgreSQL failed: ${init.stderr}`);
    const token = common.MESHROOT_ADMIN_TOKEN;

    const a = await d.startServer(envs[0]!);
    await seed(a.url, token);
    const one = await d.load(a.url, token, { connections: CONNECTIONS, duration: d.duration, method: "POST", paths: paths(0), body });
    d.record({
      figure: `CSR issuance ecdsa-p256 on PostgreSQL, one replica, ${CONNECTIONS} clients`,
      value: figure(one),
      target: "≥ 1,000/s",
      baseline: `SQLite ${figure(liteRun)}`,
      ratio: `${d.fmt((one.rps / liteRun.rps) * 100)}% of SQLite`,
      pass: one.rps >= 1000 && one.non2xx === 0 && one.errors === 0,
    });

    const b = await d.startServer(envs[1]!);
    const [ra, rb] = await Promise.all([
      d.load(a.url, token, { connections: CONNECTIONS / 2, duration: d.duration, method: "POST", paths: paths(0), body }),
      d.load(b.url, token, { connections: CONNECTIONS / 2, duration: d.duration, method: "POST", paths: paths(1), body }),
    ]);
    const both = ra.rps + rb.rps;
    d.record({
      figure: `CSR issuance ecdsa-p256 on PostgreSQL, two replicas, ${CONNECTIONS / 2} clients each`,
      value: `${d.fmt(both)}/s (replica A ${figure(ra)}; B ${figure(rb)})`,
      target: "≥ one replica",
      baseline: `one replica ${d.fmt(one.rps)}/s`,
      ratio: `${d.fmt(both / one.rps, 2)}×`,
      pass: both >= one.rps && ra.non2xx + rb.non2xx + ra.errors + rb.errors === 0,
    });
    await Promise.all([a.stop(), b.stop()]);
  } finally {
    await server.stop();
  }
}

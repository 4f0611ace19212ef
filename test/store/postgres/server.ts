import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";

/**
 * A throwaway PostgreSQL server for the tests. With MESHROOT_TEST_DATABASE_URL set, that server
 * is used (one new database per caller). Otherwise Debian's `postgresql` package is looked for
 * under /usr/lib/postgresql/<version>/bin (`.ci/run` installs it): a temporary folder is
 * initdb'ed (as the `postgres` user when running as root: initdb refuses root), started on
 * 127.0.0.1 with a free port and a Unix socket in that folder, and removed by `stop()`.
 * Without PostgreSQL the tests that need it are skipped locally with one line saying so, but in
 * CI (CI=true) they fail: a green run must have exercised the PostgreSQL backend.
 */

const EXTERNAL_URL = process.env.MESHROOT_TEST_DATABASE_URL;

/** The newest PostgreSQL bin folder that has initdb and pg_ctl, if any. */
function findPgBin(): string | undefined {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, "bin", "initdb")) && existsSync(join(base, v, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] && join(base, versions[0], "bin");
}

export const PG_BIN = findPgBin();
export const postgresMissing = !EXTERNAL_URL && PG_BIN === undefined;
export const skipPostgres = postgresMissing && process.env.CI !== "true";
if (skipPostgres) {
  console.warn("[postgres tests] skipped: no PostgreSQL under /usr/lib/postgresql/*/bin (apt-get install postgresql, or set MESHROOT_TEST_DATABASE_URL)");
}

export interface PgServer {
  /** postgres://… of the server's `postgres` database (administration). */
  adminUrl: string;
  /** Creates a new empty database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server (fast shutdown) without removing its folder; `start()` brings it back on the same port. */
  pause(): void;
  start(): void;
  /** Stops the server and removes its folder (a no-op for an external server). */
  stop(): Promise<void>;
}

const asRoot = userInfo().uid === 0;

function run(bin: string, args: string[], options: { allowFail?: boolean } = {}): void {
  const cmd = asRoot ? "runuser" : bin;
  const argv = asRoot ? ["-u", "postgres", "--", bin, ...args] : args;
  const r = spawnSync(cmd, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.status !== 0 && !options.allowFail) throw new Error(`${bin} ${args.join(" ")} failed (${r.status}): ${r.stderr}${r.stdout}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

let counter = 0;
const dbName = () => `meshroot_t${process.pid}_${++counter}_${Math.random().toString(36).slice(2, 8)}`;

async function createDb(adminUrl: string, name: string): Promise<string> {
  const pg = (await import("pg")).default;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Starts a PostgreSQL server for one test file (or uses MESHROOT_TEST_DATABASE_URL); throws when
 * there is none. `durable` keeps fsync on (the bench measures what production pays).
 */
export async function startPostgres(options: { durable?: boolean } = {}): Promise<PgServer> {
  if (EXTERNAL_URL) {
    return { adminUrl: EXTERNAL_URL, createDatabase: (name = dbName()) => createDb(EXTERNAL_URL, name), pause() {}, start() {}, async stop() {} };
  }
  if (!PG_BIN) throw new Error("PostgreSQL is required in CI but missing under /usr/lib/postgresql/*/bin: .ci/run installs it with apt-get (postgresql)");
  const dir = mkdtempSync(join(tmpdir(), "meshroot-pg-"));
  if (asRoot) execFileSync("chown", ["-R", "postgres:postgres", dir]);
  const data = join(dir, "data");
  const port = await freePort();
  run(join(PG_BIN, "initdb"), ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync"]);
  // Throwaway data: durability off for speed (a SIGKILL of meshroot never loses what PostgreSQL acknowledged).
  const speed = options.durable ? "" : " -c fsync=off -c full_page_writes=off";
  const opts = `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir}${speed} -c max_connections=200 -c shared_buffers=128MB`;
  const start = () => run(join(PG_BIN, "pg_ctl"), ["-D", data, "-o", opts, "-l", join(dir, "log"), "-w", "-t", "30", "start"]);
  const pause = () => run(join(PG_BIN, "pg_ctl"), ["-D", data, "-m", "fast", "-w", "stop"], { allowFail: true });
  start();
  let stopped = false;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    run(join(PG_BIN, "pg_ctl"), ["-D", data, "-m", "immediate", "-w", "stop"], { allowFail: true });
    rmSync(dir, { recursive: true, force: true });
  };
  // A test run that dies before afterAll still stops its server.
  process.once("exit", stopSync);
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    adminUrl,
    createDatabase: (name = dbName()) => createDb(adminUrl, name),
    pause,
    start,
    async stop() {
      process.off("exit", stopSync);
      stopSync();
    },
  };
}

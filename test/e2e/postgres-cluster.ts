import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, expect } from "vitest";
import { LEADER_LOCK } from "../../src/store/postgres/pool.js";
import { tempDir } from "../helpers.js";
import { startPostgres, type PgServer } from "../store/postgres/server.js";
import { CLI, startServer, type Server } from "./server.js";

/** Helpers of the PostgreSQL replica tests (test/e2e/postgres-*.test.ts). */

/**
 * For the enclosing describe: a throwaway PostgreSQL server, and a starter of `meshroot serve`
 * replicas; every replica is killed and the server stopped after the tests.
 */
export function replicaHarness(): { pg: () => PgServer; start: (env: Record<string, string>) => Promise<Server> } {
  let server: PgServer | undefined;
  const running: Server[] = [];
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await Promise.all(running.map((s) => s.stop("SIGKILL")));
    await server?.stop();
  });
  return {
    pg: () => server!,
    async start(env) {
      const s = await startServer(env);
      running.push(s);
      return s;
    },
  };
}

/** Two replicas' settings: one database, each its own data directory (admin token file, serve lock), one master key. */
export function replicaEnv(databaseUrl: string) {
  const dir = tempDir();
  const keyFile = join(dir, "master.key");
  writeFileSync(keyFile, randomBytes(32).toString("base64"));
  const common = {
    MESHROOT_DATABASE_URL: databaseUrl,
    MESHROOT_DATABASE_POOL_SIZE: "8",
    MESHROOT_MASTER_KEY_FILE: keyFile,
    MESHROOT_ADMIN_TOKEN: randomBytes(24).toString("hex"),
    MESHROOT_MAX_ISSUANCES_PER_CLUSTER_PER_DAY: "10000",
  };
  return [0, 1].map((i) => ({ ...common, MESHROOT_DATA_DIR: join(dir, `replica-${i}`) }));
}

/** What the database holds after the load: checked directly, not through the API. */
export async function checkInvariants(url: string, acknowledged: Set<string>) {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const active = await db.query<{ cluster: string; n: string }>("SELECT cluster, COUNT(*) AS n FROM intermediates WHERE status = 'active' GROUP BY cluster");
    for (const r of active.rows) expect(Number(r.n), `active intermediates of ${r.cluster}`).toBe(1);
    const gens = await db.query<{ cluster: string; n: string; max: number; min: number }>("SELECT cluster, COUNT(*) AS n, MAX(generation) AS max, MIN(generation) AS min FROM intermediates GROUP BY cluster");
    for (const r of gens.rows) expect({ cluster: r.cluster, n: Number(r.n), min: r.min }).toEqual({ cluster: r.cluster, n: r.max, min: 1 });
    const audited = new Set(
      (await db.query<{ target_id: string }>("SELECT target_id FROM audit_events WHERE action IN ('intermediate.issue', 'intermediate.rotate') AND outcome = 'success'")).rows.map((r) => r.target_id),
    );
    const rows = new Set((await db.query<{ serial: string }>("SELECT serial FROM intermediates")).rows.map((r) => r.serial));
    for (const serial of acknowledged) {
      expect(rows.has(serial), `acknowledged ${serial} missing`).toBe(true);
      expect(audited.has(serial), `acknowledged ${serial} has no audit event`).toBe(true);
    }
    for (const serial of rows) expect(audited.has(serial), `${serial} has no creation event`).toBe(true);
    // The chain is dense: seq 1..n.
    const seq = (await db.query<{ n: string; max: string }>("SELECT COUNT(*) AS n, MAX(seq) AS max FROM audit_events")).rows[0]!;
    expect(Number(seq.n)).toBe(Number(seq.max));
    // CRL numbers: one per seq per issuer, no gaps.
    const crls = await db.query<{ issuer_serial: string; n: string; max: string }>("SELECT issuer_serial, COUNT(*) AS n, MAX(seq) AS max FROM crls GROUP BY issuer_serial");
    for (const r of crls.rows) expect(Number(r.n), `CRLs of ${r.issuer_serial}`).toBe(Number(r.max));
  } finally {
    await db.end();
  }
}

/** The pids of the sessions that hold the leader lock. */
export async function leaders(url: string): Promise<number[]> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const hi = Number(LEADER_LOCK >> 32n);
    const lo = Number(LEADER_LOCK & 0xffffffffn);
    const { rows } = await db.query<{ pid: number }>(
      "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1 AND objid = $2 AND objsubid = 1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      [hi, lo],
    );
    return rows.map((r) => r.pid);
  } finally {
    await db.end();
  }
}

/** `meshroot audit verify` against the database; returns its exit status and output. */
export function auditVerify(env: Record<string, string>) {
  const r = spawnSync(process.execPath, [CLI, "audit", "verify"], { env: { PATH: process.env.PATH, ...env }, encoding: "utf8" });
  return { status: r.status, output: r.stdout + r.stderr };
}

import * as x509 from "@peculiar/x509";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LEADER_LOCK } from "../../src/store/postgres/pool.js";
import { tempDir } from "../helpers.js";
import { skipPostgres, startPostgres, type PgServer } from "../store/postgres/server.js";
import { CLI, client, startServer, type Server } from "./server.js";

/**
 * Several `meshroot serve` replicas on one PostgreSQL database (issue 13): concurrent clients
 * across both, then the invariants checked in the database itself; the background jobs' leader;
 * a change on one replica served by the other within a second.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLUSTERS = ["c0", "c1", "c2", "c3", "c4", "c5"];

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

describe.skipIf(skipPostgres)("several replicas on PostgreSQL", () => {
  let server: PgServer;
  const running: Server[] = [];
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await Promise.all(running.map((s) => s.stop("SIGKILL")));
    await server?.stop();
  });
  const start = async (env: Record<string, string>) => {
    const s = await startServer(env);
    running.push(s);
    return s;
  };

  it("two replicas, 50 concurrent clients issuing, rotating and revoking across both: one active intermediate per cluster, dense generations, one verified chain", async () => {
    const url = await server.createDatabase();
    const [envA, envB] = replicaEnv(url);
    // Started together: migrations, the master-key check and the bootstrap token are taken once.
    const [a, b] = await Promise.all([start(envA!), start(envB!)]);
    const token = envA!.MESHROOT_ADMIN_TOKEN;
    const apis = [client(a.url, token), client(b.url, token)];
    expect((await apis[0]!("POST", "/v1/trust-domains", { name: "cluster.local" })).status).toBe(201);
    for (const [i, name] of CLUSTERS.entries()) expect((await apis[i % 2]!("POST", "/v1/clusters", { name, trustDomain: "cluster.local" })).status).toBe(201);

    // One leader for the background jobs.
    await sleep(2500);
    expect(await leaders(url)).toHaveLength(1);

    const acknowledged = new Set<string>();
    const problems: string[] = [];
    let crlConflicts = 0;
    let revocations = 0;
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const deadline = Date.now() + 6000;
    const worker = async (w: number) => {
      while (Date.now() < deadline) {
        const api = apis[Math.floor(rand() * 2)]!;
        const cluster = CLUSTERS[Math.floor(rand() * CLUSTERS.length)]!;
        const p = rand();
        if (p < 0.6) {
          const r = await api("POST", `/v1/clusters/${cluster}/intermediates`, {}, rand() < 0.3 ? { "idempotency-key": `w${w}-${Math.floor(rand() * 3)}` } : {});
          if (r.status === 200 || r.status === 201) acknowledged.add(r.json().intermediate.serial);
          else if (!(r.status === 409 && ["rotation_in_progress", "intermediate_revoked"].includes(r.json().code))) problems.push(`issue: ${r.status} ${r.text.slice(0, 200)}`);
        } else if (p < 0.8) {
          const got = await api("GET", `/v1/clusters/${cluster}`);
          const active = got.json().activeIntermediate;
          if (!active) continue;
          const r = await api("POST", `/v1/certificates/${active.serial}/revoke`, { reason: "superseded" });
          // The core serialises revocations per trust domain within a process and retries a lost CRL
          // number 8 times; across replicas a revocation can still lose them all (counted, see below).
          if (r.status === 409 && r.json().code === "crl_conflict") crlConflicts++;
          else if (r.status !== 200 && !(r.status === 409 && r.json().code === "already_revoked")) problems.push(`revoke: ${r.status} ${r.text.slice(0, 200)}`);
          else revocations++;
        } else {
          const r = await api("POST", "/v1/rotations/run", {});
          if (r.status === 200) for (const x of r.json().rotated) acknowledged.add(x.serial);
          else problems.push(`rotate: ${r.status} ${r.text.slice(0, 200)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 50 }, (_, w) => worker(w)));
    console.info(`[postgres replicas] ${acknowledged.size} intermediates acknowledged, ${revocations} revocations answered, ${crlConflicts} refused with crl_conflict`);
    expect(problems).toEqual([]);
    expect(crlConflicts).toBeLessThan(Math.max(3, revocations / 10));
    expect(acknowledged.size).toBeGreaterThan(CLUSTERS.length);
    await checkInvariants(url, acknowledged);

    // The same idempotency replay from either replica.
    const first = await apis[0]!("POST", "/v1/clusters/c0/intermediates", {}, { "idempotency-key": "replay-1" });
    expect(first.status).toBe(201);
    const replay = await apis[1]!("POST", "/v1/clusters/c0/intermediates", {}, { "idempotency-key": "replay-1" });
    expect(replay.status).toBe(200);
    expect(replay.json().intermediate.serial).toBe(first.json().intermediate.serial);

    // A revocation on A is in the CRL B serves within a second.
    const before = await fetch(`${b.url}/v1/trust-domains/cluster.local/crl`);
    expect(before.status).toBe(200);
    const revoked = await apis[0]!("POST", `/v1/certificates/${first.json().intermediate.serial}/revoke`, { reason: "keyCompromise" });
    expect(revoked.status).toBe(200);
    const t0 = Date.now();
    let seen = false;
    while (!seen && Date.now() - t0 < 1000) {
      const crl = new x509.X509Crl(new Uint8Array(await (await fetch(`${b.url}/v1/trust-domains/cluster.local/crl`)).arrayBuffer()));
      seen = crl.entries.some((e) => e.serialNumber.toLowerCase() === first.json().intermediate.serial.toLowerCase());
      if (!seen) await sleep(50);
    }
    expect(seen, "B served A's revocation within 1 s").toBe(true);

    const verdict = auditVerify(envA!);
    expect(verdict.status, verdict.output).toBe(0);
  });
});

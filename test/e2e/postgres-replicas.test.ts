import * as x509 from "@peculiar/x509";
import { describe, expect, it } from "vitest";
import { skipPostgres } from "../store/postgres/server.js";
import { auditVerify, checkInvariants, leaders, replicaEnv, replicaHarness } from "./postgres-cluster.js";
import { client } from "./server.js";

/**
 * Several `meshroot serve` replicas on one PostgreSQL database (issue 13): concurrent clients
 * across both, then the invariants checked in the database itself; the background jobs' leader;
 * a change on one replica served by the other within a second.
 */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CLUSTERS = ["c0", "c1", "c2", "c3", "c4", "c5"];

describe.skipIf(skipPostgres)("several replicas on PostgreSQL", () => {
  const { pg, start } = replicaHarness();

  it("two replicas, 50 concurrent clients issuing, rotating and revoking across both: one active intermediate per cluster, dense generations, one verified chain", async () => {
    const url = await pg().createDatabase();
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
          // The core serialises revocations per trust domain within a process; across replicas it
          // retries a lost CRL number with growing, jittered pauses, so none should fail.
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
    expect(crlConflicts).toBe(0);
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

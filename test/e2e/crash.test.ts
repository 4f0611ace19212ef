import * as x509 from "@peculiar/x509";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { decodeMasterKey, envelopeVault } from "../../src/keys/envelope-vault.js";
import { intermediateKeyAad } from "../../src/core/issuers.js";
import { loadMigrations } from "../../src/store/sqlite/migrate.js";
import { tempDir } from "../helpers.js";
import { CLI, client, startServer, type Server } from "./server.js";

const CLUSTERS = ["c0", "c1", "c2", "c3"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("crash safety", () => {
  it("SIGKILL under issuance, rotation and revocation load, five times: nothing acknowledged is lost, nothing is half-written", async () => {
    const dir = tempDir();
    const keyFile = join(dir, "master.key");
    writeFileSync(keyFile, randomBytes(32).toString("base64"));
    // The per-cluster issuance limit is lifted: this test issues as fast as it can.
    const env = {
      MESHROOT_DATA_DIR: join(dir, "data"),
      MESHROOT_MASTER_KEY_FILE: keyFile,
      MESHROOT_ADMIN_TOKEN: randomBytes(24).toString("hex"),
      MESHROOT_MAX_ISSUANCES_PER_CLUSTER_PER_DAY: "10000",
    };
    const acknowledged = new Set<string>();
    const revokedAck = new Set<string>();
    /** Answers no worker should ever get: any 5xx, an unexpected status or body, a request error before the kill. */
    const problems: string[] = [];
    let server: Server = await startServer(env);
    const admin = () => client(server.url, env.MESHROOT_ADMIN_TOKEN);
    expect((await admin()("POST", "/v1/trust-domains", { name: "cluster.local" })).status).toBe(201);
    for (const name of CLUSTERS) {
      expect((await admin()("POST", "/v1/clusters", { name, trustDomain: "cluster.local" })).status).toBe(201);
      const r = await admin()("POST", `/v1/clusters/${name}/intermediates`, {});
      acknowledged.add(r.json().intermediate.serial);
    }

    let seed = 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 5; round++) {
      const api = admin();
      let stop = false;
      let killed = false;
      /** Checks an answer: `ok` statuses, or a 409 with one of `codes`; anything else is a problem. */
      const expectAnswer = (what: string, r: { status: number; text: string; json: () => { code?: string } }, ok: number[], codes: string[] = []) => {
        if (ok.includes(r.status)) return true;
        if (r.status === 409 && codes.includes(r.json().code ?? "")) return false;
        problems.push(`${what}: ${r.status} ${r.text.slice(0, 300)}`);
        return false;
      };
      const worker = async (w: number) => {
        while (!stop) {
          const cluster = CLUSTERS[Math.floor(rand() * CLUSTERS.length)]!;
          const p = rand();
          try {
            if (p < 0.6) {
              const headers: Record<string, string> = rand() < 0.5 ? { "idempotency-key": `r${round}-w${w}-${Math.floor(rand() * 5)}` } : {};
              const r = await api("POST", `/v1/clusters/${cluster}/intermediates`, {}, headers);
              // A replayed key whose intermediate was revoked since is refused (issue 16, item 13).
              if (expectAnswer(`issue ${cluster}`, r, [200, 201], ["rotation_in_progress", "intermediate_revoked"])) {
                const serial = r.json().intermediate?.serial;
                if (typeof serial === "string") acknowledged.add(serial);
                else problems.push(`issue ${cluster}: ${r.status} without a serial: ${r.text.slice(0, 300)}`);
              }
            } else if (p < 0.75) {
              const got = await api("GET", `/v1/clusters/${cluster}`);
              if (!expectAnswer(`get ${cluster}`, got, [200])) continue;
              const active = got.json().activeIntermediate;
              if (!active) continue;
              const r = await api("POST", `/v1/certificates/${active.serial}/revoke`, { reason: "superseded" });
              // Two workers may revoke the same one; a crl_conflict is a race the caller must never see (item 12).
              if (expectAnswer(`revoke ${active.serial}`, r, [200], ["already_revoked"])) {
                if (r.json().status === "revoked" && r.json().serial === active.serial) revokedAck.add(active.serial);
                else problems.push(`revoke ${active.serial}: unexpected body ${r.text.slice(0, 300)}`);
              }
            } else {
              const r = await api("POST", "/v1/rotations/run", {});
              if (expectAnswer("rotation run", r, [200])) for (const x of r.json().rotated) acknowledged.add(x.serial);
            }
          } catch (err) {
            if (!killed) problems.push(`request failed before the kill: ${String(err)}`);
            return; // the server is gone
          }
        }
      };
      const workers = [0, 1, 2, 3, 4, 5].map(worker);
      await sleep(150 + Math.floor(rand() * 600));
      killed = true;
      server.proc.kill("SIGKILL");
      await server.stop();
      stop = true;
      await Promise.all(workers);
      server = await startServer(env);
    }

    expect(problems).toEqual([]);
    expect(revokedAck.size).toBeGreaterThan(0);
    // After the last restart the server answers, and the CRL is intact and signed by the root.
    const crlRes = await fetch(`${server.url}/v1/trust-domains/cluster.local/crl`);
    expect(crlRes.status).toBe(200);
    const crl = new x509.X509Crl(new Uint8Array(await crlRes.arrayBuffer()));
    const root = new x509.X509Certificate((await admin()("GET", "/v1/trust-domains/cluster.local/bundle")).text);
    expect(await crl.verify({ publicKey: root.publicKey })).toBe(true);
    await server.stop();

    const verify = spawnSync(process.execPath, [CLI, "audit", "verify"], { env: { PATH: process.env.PATH, ...env }, encoding: "utf8" });
    expect(verify.status, verify.stdout + verify.stderr).toBe(0);

    const db = new Database(join(dir, "data", "meshroot.db"), { readonly: true });
    try {
      expect(db.prepare("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
      expect(db.prepare("PRAGMA foreign_key_check").all()).toEqual([]);
      const migrations = db.prepare("SELECT version, checksum FROM schema_migrations ORDER BY version").all();
      expect(migrations).toEqual(loadMigrations().map((m) => ({ version: m.version, checksum: m.checksum })));

      const rows = db.prepare("SELECT serial, cluster, generation, status, custody, cert_pem, sealed_key FROM intermediates").all() as {
        serial: string;
        cluster: string;
        generation: number;
        status: string;
        custody: string;
        cert_pem: string;
        sealed_key: Buffer | null;
      }[];
      const bySerial = new Map(rows.map((r) => [r.serial, r]));
      const audited = new Set(
        (db.prepare("SELECT target_id FROM audit_events WHERE action IN ('intermediate.issue', 'intermediate.rotate') AND outcome = 'success'").all() as { target_id: string }[]).map((r) => r.target_id),
      );
      expect(acknowledged.size).toBeGreaterThan(CLUSTERS.length);
      for (const serial of acknowledged) {
        expect(bySerial.has(serial), `acknowledged ${serial} missing`).toBe(true);
        expect(audited.has(serial), `acknowledged ${serial} has no audit event`).toBe(true);
      }
      // Every committed intermediate has its event, and every row is whole: certificate and key agree.
      expect([...bySerial.keys()].every((s) => audited.has(s))).toBe(true);
      const vault = envelopeVault(decodeMasterKey(readFileSync(keyFile), "key"));
      for (const r of rows) {
        expect(new x509.X509Certificate(r.cert_pem).serialNumber).toBe(r.serial);
        expect(r.sealed_key).not.toBeNull();
        const pkcs8 = await vault.open(new Uint8Array(r.sealed_key!), intermediateKeyAad(r.serial));
        const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
        expect(key.type).toBe("private");
      }
      for (const name of CLUSTERS) {
        const mine = rows.filter((r) => r.cluster === name).map((r) => r.generation).sort((a, b) => a - b);
        expect(mine, `generations of ${name}`).toEqual(mine.map((_, i) => i + 1));
        expect(rows.filter((r) => r.cluster === name && r.status === "active").length).toBeLessThanOrEqual(1);
      }
      // Every acknowledged revocation survived, and the CRL lists exactly the revoked intermediates.
      const revoked = rows.filter((r) => r.status === "revoked").map((r) => r.serial).sort();
      for (const serial of revokedAck) expect(revoked, `acknowledged revocation of ${serial} lost`).toContain(serial);
      expect(crl.entries.map((e) => e.serialNumber.toLowerCase()).sort()).toEqual(revoked);
    } finally {
      db.close();
    }
  });
});

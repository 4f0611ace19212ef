import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { eventText, sha256Hex } from "../../src/core/audit.js";
import { tempDir } from "../helpers.js";
import { CLI, client, startServer } from "./server.js";

function run(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, ...env }, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Appends a correctly chained event straight into the database: what someone with the file, but not the key, can do. */
function appendForged(dbPath: string, action: string): void {
  const db = new Database(dbPath);
  try {
    const prev = db.prepare("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").get() as { seq: number; hash: string };
    const e = {
      seq: prev.seq + 1, prevHash: prev.hash, at: new Date(), action, target: { type: "token", id: "x" }, cluster: null, trustDomain: null,
      outcome: "success" as const, details: {}, actor: { type: "system" as const, id: "system", name: "forger" }, requestId: null, sourceIp: null,
    };
    const text = eventText(e);
    db.prepare("INSERT INTO audit_events (seq, event, hash) VALUES (?, ?, ?)").run(e.seq, text, sha256Hex(text));
  } finally {
    db.close();
  }
}

describe("meshroot audit verify: the anchored end of the trail", () => {
  it("serve logs the head and checkpoints it at shutdown; forged appends fail --expect-head, a truncated tail fails verify", async () => {
    const dir = tempDir();
    const keyFile = join(dir, "master.key");
    writeFileSync(keyFile, randomBytes(32).toString("base64"), { mode: 0o600 });
    const env = { MESHROOT_DATA_DIR: join(dir, "data"), MESHROOT_MASTER_KEY_FILE: keyFile };
    const server = await startServer({ ...env, MESHROOT_LOG_LEVEL: "info", MESHROOT_ADMIN_TOKEN: `mrt_${"a".repeat(40)}` });
    const api = client(server.url, `mrt_${"a".repeat(40)}`);
    expect((await api("POST", "/v1/trust-domains", { name: "cluster.local" })).status).toBe(201);
    const metrics = (await api("GET", "/metrics")).text;
    expect(metrics).toMatch(/^meshroot_audit_head_seq 2$/m);
    const info = /^meshroot_audit_head_info\{seq="2",hash="([0-9a-f]{64})"\} 1$/m.exec(metrics);
    expect(info, metrics).not.toBeNull();
    expect(await server.stop()).toBe(0);
    const heads = [...server.stdout().matchAll(/"auditHead":\{"seq":(\d+),"hash":"([0-9a-f]{64})"\}/g)].map((m) => `${m[1]}:${m[2]}`);
    const logged = heads.at(-1)!;
    expect(logged).toBe(`2:${info![1]}`);

    const ok = run(["audit", "verify", "--expect-head", logged], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, checkpoint: { status: "ok", checkpoint: { seq: 2 } }, expectedHead: { ok: true } });

    const dbPath = join(dir, "data", "meshroot.db");
    appendForged(dbPath, "token.create");
    appendForged(dbPath, "token.create");
    const plain = run(["audit", "verify"], env);
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout)).toMatchObject({ ok: true, checkpoint: { status: "ok", eventsAfter: 2 } });
    const caught = run(["audit", "verify", "--expect-head", logged], env);
    expect(caught.code).toBe(1);
    expect(JSON.parse(caught.stdout)).toMatchObject({ ok: false, chainOk: true, expectedHead: { ok: false, unanchored: 2 } });
    expect(caught.stderr).toMatch(/expected head MISMATCH/);

    const db = new Database(dbPath);
    db.exec("DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events WHERE seq > 1;");
    db.close();
    const cut = run(["audit", "verify"], env);
    expect(cut.code).toBe(1);
    expect(JSON.parse(cut.stdout)).toMatchObject({ ok: false, chainOk: true, checkpoint: { status: "truncated" } });
    expect(cut.stderr).toMatch(/checkpoint TRUNCATED/);

    expect(run(["audit", "verify", "--expect-head", "2:nothex"], env)).toMatchObject({ code: 2, stderr: expect.stringMatching(/--expect-head must be/) });
  });
});

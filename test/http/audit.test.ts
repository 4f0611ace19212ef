import * as x509 from "@peculiar/x509";
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { InjectOptions } from "fastify";
import { beforeEach, describe, expect, it } from "vitest";
import { signCrl } from "../x509/reference.js";
import { DAY_MS } from "../../src/clock.js";
import { crypto, makeCsr, tempDir, testApp, TEST_CTX, type TestApp } from "../helpers.js";

let t: TestApp;
beforeEach(async () => {
  t = await testApp();
});

interface Row {
  seq: number;
  action: string;
  actor_id: string;
  actor_type: string;
  target_type: string;
  target_id: string;
  cluster: string | null;
  trust_domain: string | null;
  outcome: string;
  request_id: string | null;
  source_ip: string | null;
  details: string;
}

const maxSeq = () => (t.db.prepare("SELECT COALESCE(MAX(seq), 0) AS s FROM audit_events").get() as { s: number }).s;
const eventsAfter = (seq: number) => t.db.prepare("SELECT * FROM audit_events WHERE seq > ? ORDER BY seq").all(seq) as Row[];

/** Runs one request and returns its response and the audit events it wrote. */
async function step(opts: InjectOptions) {
  const before = maxSeq();
  const res = await t.app.inject(opts);
  return { res, events: eventsAfter(before) };
}

describe("audit trail: every action writes exactly one event", () => {
  it("records state changes, key reads and refusals with actor, target, outcome, request id and source", async () => {
    const admin = (await t.db.prepare("SELECT id FROM api_tokens WHERE name = 'admin'").get()) as { id: string };
    const h = t.auth();
    const expectOne = async (
      opts: InjectOptions,
      want: { action: string; target_type: string; target_id?: string; cluster?: string | null; trust_domain?: string | null; outcome?: string; actor?: string },
    ) => {
      const { res, events } = await step(opts);
      expect(events, `${want.action}: ${res.body}`).toHaveLength(1);
      const e = events[0]!;
      expect(e).toMatchObject({
        action: want.action,
        target_type: want.target_type,
        outcome: want.outcome ?? "success",
        actor_id: want.actor ?? admin.id,
        request_id: res.headers["x-request-id"],
        source_ip: "127.0.0.1",
      });
      if (want.target_id) expect(e.target_id).toBe(want.target_id);
      if (want.cluster !== undefined) expect(e.cluster).toBe(want.cluster);
      if (want.trust_domain !== undefined) expect(e.trust_domain).toBe(want.trust_domain);
      return { res, event: e, details: JSON.parse(e.details) as Record<string, unknown> };
    };

    await expectOne({ method: "POST", url: "/v1/trust-domains", headers: h, payload: { name: "cluster.local" } }, { action: "trust_domain.create", target_type: "trust_domain", target_id: "cluster.local", trust_domain: "cluster.local" });
    const tok = await expectOne({ method: "POST", url: "/v1/tokens", headers: h, payload: { name: "ci", role: "provisioner", clusters: ["east"], trustDomains: ["cluster.local"] } }, { action: "token.create", target_type: "token" });
    const secret = tok.res.json().token as string;
    expect(tok.event.details).not.toContain(secret);
    expect(tok.details).toMatchObject({ name: "ci", role: "provisioner", clusters: ["east"] });
    await expectOne({ method: "POST", url: "/v1/clusters", headers: h, payload: { name: "east", trustDomain: "cluster.local" } }, { action: "cluster.create", target_type: "cluster", cluster: "east", trust_domain: "cluster.local" });
    await expectOne({ method: "POST", url: "/v1/clusters", headers: h, payload: { name: "west", trustDomain: "cluster.local" } }, { action: "cluster.create", target_type: "cluster", cluster: "west" });
    await expectOne({ method: "PATCH", url: "/v1/clusters/east", headers: h, payload: { labels: { env: "prod" } } }, { action: "cluster.update", target_type: "cluster", cluster: "east" });
    const g1 = await expectOne(
      { method: "POST", url: "/v1/clusters/east/intermediates", headers: { ...t.auth(secret), "idempotency-key": "k1" }, payload: {} },
      { action: "intermediate.issue", target_type: "intermediate", cluster: "east", actor: tok.res.json().id },
    );
    const serial1 = g1.res.json().intermediate.serial as string;
    expect(g1.event.target_id).toBe(serial1);
    expect(g1.details).toMatchObject({ generation: 1, custody: "escrowed", keyReturned: true, idempotencyKey: "k1" });
    expect(g1.event.details).not.toContain("PRIVATE KEY");
    await expectOne({ method: "POST", url: "/v1/clusters/east/intermediates", headers: { ...h, "idempotency-key": "k1" }, payload: {} }, { action: "intermediate.replay", target_type: "intermediate", target_id: serial1 });
    const g2 = await expectOne({ method: "POST", url: "/v1/clusters/east/intermediates", headers: h, payload: {} }, { action: "intermediate.rotate", target_type: "intermediate" });
    expect(g2.details).toMatchObject({ generation: 2, supersedes: serial1 });
    await expectOne({ method: "GET", url: "/v1/clusters/east/cacerts", headers: h }, { action: "cacerts.read", target_type: "intermediate", target_id: g2.res.json().intermediate.serial });
    const rv = await expectOne({ method: "POST", url: `/v1/certificates/${serial1}/revoke`, headers: h, payload: { reason: "keyCompromise" } }, { action: "intermediate.revoke", target_type: "intermediate", target_id: serial1, cluster: "east" });
    expect(rv.details).toMatchObject({ reason: "keyCompromise", generation: 1 });

    // External custody: issuing returns no key; a CRL upload is recorded.
    const csr = await makeCsr();
    const ext = await expectOne({ method: "POST", url: "/v1/clusters/west/intermediates", headers: h, payload: { csrPem: csr.pem } }, { action: "intermediate.issue", target_type: "intermediate" });
    expect(ext.details).toMatchObject({ custody: "external", keyReturned: false });
    const extCert = new x509.X509Certificate(ext.res.json().intermediate.certificatePem);
    const crl = await signCrl({ signer: { cert: extCert, keyAlgorithm: "ecdsa-p256", keyId: "", privateKey: csr.keys.privateKey }, number: 1, thisUpdate: t.clock.now(), nextUpdate: new Date(t.clock.now().getTime() + DAY_MS), entries: [] });
    await expectOne(
      { method: "PUT", url: `/v1/clusters/west/intermediates/${extCert.serialNumber}/crl`, headers: { ...h, "content-type": "application/pkix-crl" }, payload: Buffer.from(crl.rawData) },
      { action: "crl.upload", target_type: "intermediate", cluster: "west" },
    );
    await expectOne({ method: "DELETE", url: "/v1/clusters/west", headers: h }, { action: "cluster.decommission", target_type: "cluster", cluster: "west" });

    // Refusals: 401 (anonymous) and 403 (the token is known).
    const denied401 = await expectOne({ method: "GET", url: "/v1/clusters" }, { action: "request.denied", target_type: "route", outcome: "denied", actor: "anonymous" });
    expect(denied401.event.target_id).toBe("GET /v1/clusters");
    expect(denied401.details).toMatchObject({ status: 401 });
    const denied403 = await expectOne({ method: "GET", url: "/v1/tokens", headers: t.auth(secret) }, { action: "request.denied", target_type: "route", outcome: "denied", actor: tok.res.json().id });
    expect(denied403.details).toMatchObject({ status: 403 });
    const scope = await expectOne({ method: "GET", url: "/v1/clusters/west/cacerts", headers: t.auth(secret) }, { action: "request.denied", target_type: "route", outcome: "denied", cluster: "west", actor: tok.res.json().id });
    expect(scope.details.reason).toContain("outside its scope");
    await expectOne({ method: "DELETE", url: `/v1/tokens/${tok.res.json().id}`, headers: h }, { action: "token.revoke", target_type: "token", target_id: tok.res.json().id });

    // Reads without key material and refused inputs write nothing.
    for (const opts of [
      { method: "GET" as const, url: "/v1/clusters", headers: h },
      { method: "GET" as const, url: "/v1/trust-domains/cluster.local/crl" },
      { method: "POST" as const, url: "/v1/clusters", headers: h, payload: { name: "east", trustDomain: "cluster.local" } },
      { method: "POST" as const, url: "/v1/clusters", headers: h, payload: { name: "BAD" } },
    ]) {
      const { events } = await step(opts);
      expect(events, opts.url).toHaveLength(0);
    }

    // The scheduler's work is recorded as the system actor.
    t.clock.advance(300 * DAY_MS);
    const before = maxSeq();
    await t.core.rotation.run({}, TEST_CTX);
    const sys = eventsAfter(before);
    expect(sys.map((e) => [e.action, e.actor_type, e.cluster])).toEqual([["intermediate.rotate", "system", "east"]]);
    expect((await t.app.inject({ url: "/v1/audit/verify", headers: h })).json()).toMatchObject({ ok: true, firstBroken: null });
  });
});

describe("audit trail: tamper evidence", () => {
  async function fill() {
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    for (const name of ["a", "b", "c", "d"]) await t.core.clusters.register({ name, trustDomain: "cluster.local" }, TEST_CTX);
    await t.core.issuance.issue("a", {}, TEST_CTX);
    // seq 1: admin token (testApp), 2: trust domain, 3-6: clusters, 7: issue
    expect(maxSeq()).toBe(7);
  }
  const dropTriggers = () => t.db.exec("DROP TRIGGER audit_events_no_update; DROP TRIGGER audit_events_no_delete;");
  const verify = async () => (await t.app.inject({ url: "/v1/audit/verify", headers: t.auth() })).json();

  it("the database refuses UPDATE and DELETE", async () => {
    await fill();
    expect(() => t.db.prepare("UPDATE audit_events SET event = replace(event, 'success', 'failure') WHERE seq = 3").run()).toThrow(/append-only/);
    expect(() => t.db.prepare("UPDATE audit_events SET outcome = 'failure' WHERE seq = 3").run()).toThrow(/generated column/);
    expect(() => t.db.prepare("DELETE FROM audit_events WHERE seq = 3").run()).toThrow(/append-only/);
    expect(await verify()).toMatchObject({ ok: true, events: 7, lastSeq: 7 });
  });

  it("finds an edited event at its seq", async () => {
    await fill();
    dropTriggers();
    const edit = t.db.prepare(`UPDATE audit_events SET event = replace(event, '"keyAlgorithm":"ecdsa-p256"', '"keyAlgorithm":"rsa-2048"') WHERE seq = 4`).run();
    expect(edit.changes).toBe(1);
    expect((t.db.prepare("SELECT details FROM audit_events WHERE seq = 4").get() as { details: string }).details).toContain("rsa-2048");
    expect(await verify()).toMatchObject({ ok: false, events: 3, firstBroken: { seq: 4, reason: expect.stringContaining("edited") } });
  });

  it("finds a deleted event at the next seq", async () => {
    await fill();
    dropTriggers();
    t.db.prepare("DELETE FROM audit_events WHERE seq = 5").run();
    expect(await verify()).toMatchObject({ ok: false, firstBroken: { seq: 6, reason: expect.stringContaining("missing") } });
  });

  it("finds a deleted event even when the later ones are renumbered", async () => {
    await fill();
    dropTriggers();
    t.db.exec("DELETE FROM audit_events WHERE seq = 5; UPDATE audit_events SET seq = seq - 1 WHERE seq > 5;");
    expect(await verify()).toMatchObject({ ok: false, firstBroken: { seq: 5, reason: expect.stringContaining("prevHash") } });
  });

  it("finds reordered events at the first moved seq", async () => {
    await fill();
    dropTriggers();
    t.db.exec("UPDATE audit_events SET seq = -3 WHERE seq = 3; UPDATE audit_events SET seq = 3 WHERE seq = 4; UPDATE audit_events SET seq = 4 WHERE seq = -3;");
    expect(await verify()).toMatchObject({ ok: false, firstBroken: { seq: 3 } });
  });
});

describe("GET /v1/audit/verify: checkpoint, cross-check, expected head", () => {
  it("reports the newest checkpoint's verdict and an expected head; a cut below the checkpoint fails", async () => {
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    const cp = (await t.core.audit.checkpoint())!;
    const get = async (query = "") => (await t.app.inject({ url: `/v1/audit/verify${query}`, headers: t.auth() })).json();
    expect(await get(`?expectHead=${cp.seq}:${cp.hash}`)).toMatchObject({
      ok: true,
      chainOk: true,
      checkpoint: { status: "ok", checkpoint: { seq: 2, hash: cp.hash, at: cp.at.toISOString() }, eventsAfter: 0, reason: null },
      missingCreationEvents: [],
      expectedHead: { seq: 2, hash: cp.hash, ok: true, unanchored: 0 },
    });
    const bad = await t.app.inject({ url: "/v1/audit/verify?expectHead=2:xyz", headers: t.auth() });
    expect(bad.statusCode).toBe(400);
    t.db.exec("DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events WHERE seq = 2;");
    expect(await get()).toMatchObject({ ok: false, chainOk: true, lastSeq: 1, checkpoint: { status: "truncated" }, expectedHead: null });
  });
});

describe("the documented algorithm (docs/audit.md)", () => {
  it("verifies a real export, implemented again from the doc, and with the doc's own Python script", async () => {
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    await t.core.clusters.register({ name: "east", trustDomain: "cluster.local", labels: { "team": "ünïcødé-ok".replace(/[^a-z-]/g, "x") } }, TEST_CTX);
    await t.core.issuance.issue("east", {}, TEST_CTX);
    await t.app.inject({ url: "/v1/clusters/east/cacerts", headers: t.auth() });
    await t.app.inject({ url: "/v1/tokens", headers: { authorization: "Bearer nope\u00e9" } });
    const res = await t.app.inject({ url: "/v1/audit/export", headers: t.auth() });
    expect(res.headers["content-type"]).toContain("application/x-ndjson");
    const lines = res.body.trim().split("\n");
    expect(lines.length).toBe(maxSeq());

    // Second implementation, from the doc's words.
    const sortKeys = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(sortKeys) : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])])) : v;
    let prev = "0".repeat(64);
    lines.forEach((line, i) => {
      const { hash, ...event } = JSON.parse(line) as Record<string, unknown>;
      expect(event.seq).toBe(i + 1);
      expect(event.prevHash).toBe(prev);
      expect(createHash("sha256").update(JSON.stringify(sortKeys(event)), "utf8").digest("hex")).toBe(hash);
      prev = hash as string;
    });

    // Third: the Python script printed in the doc, run as written.
    const doc = readFileSync(new URL("../../docs/audit.md", import.meta.url), "utf8");
    const script = /```python\n([\s\S]*?)```/.exec(doc)![1]!;
    const dir = tempDir();
    writeFileSync(join(dir, "verify.py"), script);
    writeFileSync(join(dir, "export.ndjson"), res.body);
    const ok = spawnSync("python3", [join(dir, "verify.py"), join(dir, "export.ndjson")], { encoding: "utf8" });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`ok: ${lines.length} events, last hash ${prev}`);
    // ... and it catches an edit.
    writeFileSync(join(dir, "edited.ndjson"), res.body.replace('"outcome":"denied"', '"outcome":"success"'));
    const bad = spawnSync("python3", [join(dir, "verify.py"), join(dir, "edited.ndjson")], { encoding: "utf8" });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain(`broken at seq ${lines.length}: edited`);
  });

  it("filters and pages the audit list, newest first", async () => {
    await t.core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
    for (const name of ["a", "b", "c"]) await t.core.clusters.register({ name, trustDomain: "cluster.local" }, TEST_CTX);
    const page1 = (await t.app.inject({ url: "/v1/audit?action=cluster.create&limit=2", headers: t.auth() })).json();
    expect(page1.items.map((e: { cluster: string }) => e.cluster)).toEqual(["c", "b"]);
    const page2 = (await t.app.inject({ url: `/v1/audit?action=cluster.create&limit=2&cursor=${page1.nextCursor}`, headers: t.auth() })).json();
    expect(page2.items.map((e: { cluster: string }) => e.cluster)).toEqual(["a"]);
    expect(page2.nextCursor).toBeNull();
    const byCluster = (await t.app.inject({ url: "/v1/audit?cluster=b", headers: t.auth() })).json();
    expect(byCluster.items).toHaveLength(1);
    const system = (await t.app.inject({ url: "/v1/audit?actor=system&trustDomain=cluster.local&outcome=success", headers: t.auth() })).json();
    expect(system.items).toHaveLength(4);
    const future = (await t.app.inject({ url: `/v1/audit?since=${new Date(t.clock.now().getTime() + 1000).toISOString()}`, headers: t.auth() })).json();
    expect(future.items).toEqual([]);
    const until = (await t.app.inject({ url: `/v1/audit?until=${t.clock.now().toISOString()}`, headers: t.auth() })).json();
    expect(until.items).toEqual([]);
    for (const bad of ["outcome=maybe", "since=yesterday", "limit=5000", "cursor=zzz", "cursor=eyJhIjoieCJ9", "unknown=1"]) {
      expect((await t.app.inject({ url: `/v1/audit?${bad}`, headers: t.auth() })).statusCode, bad).toBe(400);
    }
  });
});

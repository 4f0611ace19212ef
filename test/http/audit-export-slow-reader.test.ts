import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApp, type App } from "../../src/http/app.js";
import { makeCsr, testCore, TEST_CTX } from "../helpers.js";

/** Enough audit events that the export cannot fit in socket buffers (several MB). */
const EVENTS = 8_000;

let app: App;
let base: string;
let admin: string;
let core: ReturnType<typeof testCore>["core"];

beforeAll(async () => {
  const c = testCore();
  core = c.core;
  app = await buildApp({ core, clock: c.clock, metrics: c.metrics, publicCache: c.publicCache, authFailures: { limit: 3, windowMs: 60_000 }, readiness: () => ({ ready: true, checks: {} }) });
  admin = (await core.tokens.create({ name: "admin", role: "admin" }, TEST_CTX)).secret;
  await core.trustDomains.create({ name: "cluster.local" }, TEST_CTX);
  await core.clusters.register({ name: "east", trustDomain: "cluster.local" }, TEST_CTX);
  await core.issuance.issue("east", {}, TEST_CTX);
  const padding = "x".repeat(400);
  for (let i = 0; i < EVENTS; i++) await core.audit.record(TEST_CTX, "test.filler", { type: "test", id: String(i) }, {}, { padding }, "success");
  await app.listen({ host: "127.0.0.1", port: 0 });
  const addr = app.server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}`;
});

afterAll(async () => {
  await app?.close();
});

/** Starts GET /v1/audit/export on a raw socket that reads nothing until `drain` is called. */
function slowExport(port: number): Promise<{ socket: Socket; drain: () => Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      socket.write(`GET /v1/audit/export HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nConnection: close\r\n\r\n`);
      // Give the server time to start streaming and fill the socket buffers.
      setTimeout(() => resolve({ socket, drain }), 300);
    });
    socket.on("error", reject);
    const drain = () =>
      new Promise<string>((done) => {
        const chunks: Buffer[] = [];
        socket.on("data", (c: Buffer) => chunks.push(c));
        socket.on("end", () => done(Buffer.concat(chunks).toString("utf8")));
        socket.resume();
      });
  });
}

describe("a slowly read audit export does not hold the connection that writes", () => {
  it("writes succeed and failed logins answer 401, audited and counted, while the export is paused", async () => {
    const port = Number(new URL(base).port);
    const { socket, drain } = await slowExport(port);
    expect(socket.readableEnded).toBe(false);
    const call = (method: string, path: string, body?: unknown, token = admin) =>
      fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });

    const created = await call("POST", "/v1/clusters", { name: "west", trustDomain: "cluster.local" });
    expect(created.status, await created.clone().text()).toBe(201);
    const issued = await call("POST", "/v1/clusters/west/intermediates", {});
    expect(issued.status, await issued.clone().text()).toBe(201);
    const external = await call("POST", "/v1/clusters/east/intermediates", { csrPem: (await makeCsr()).pem });
    expect(external.status, await external.clone().text()).toBe(201);
    const token = await call("POST", "/v1/tokens", { name: "during export", role: "auditor" });
    expect(token.status, await token.clone().text()).toBe(201);
    const cacerts = await call("GET", "/v1/clusters/west/cacerts");
    expect(cacerts.status, await cacerts.clone().text()).toBe(200);

    const deniedBefore = (await core.audit.list({ action: "request.denied" }, { limit: 100 })).length;
    for (let i = 0; i < 3; i++) {
      const res = await call("GET", "/v1/clusters", undefined, `mrt_wrong${i}`);
      expect(res.status).toBe(401);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
    }
    expect((await core.audit.list({ action: "request.denied" }, { limit: 100 })).length).toBe(deniedBefore + 3);
    // Counted by the limiter: the fourth failure from this address is limited.
    expect((await call("GET", "/v1/clusters", undefined, "mrt_wrong4")).status).toBe(429);
    // Still paused: the export has not been read to its end yet.
    expect(socket.readableEnded).toBe(false);

    const body = await drain();
    const lines = body.slice(body.indexOf("\r\n\r\n") + 4).split("\n").filter((l) => l.startsWith("{"));
    expect(lines.length).toBeGreaterThanOrEqual(EVENTS);
    expect(JSON.parse(lines.find((l) => l.includes("test.filler"))!).action).toBe("test.filler");
    socket.destroy();
  });
});

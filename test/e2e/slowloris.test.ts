import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HEADERS_TIMEOUT_MS, MAX_CONNECTIONS_PER_ADDRESS, type App } from "../../src/http/app.js";
import { testApp } from "../helpers.js";

/** The review's attack: more half-open requests than the server's connection limit (1,024). */
const HALF_OPEN = 1_030;

let app: App;
let port: number;
const sockets: Socket[] = [];

beforeAll(async () => {
  app = (await testApp()).app;
  await app.listen({ host: "127.0.0.1", port: 0 });
  port = (app.server.address() as { port: number }).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await app?.close();
});

/** Opens a connection that sends part of a request's headers and never the rest. */
function halfOpen(): Promise<{ socket: Socket; closed: Promise<{ at: number; data: string }> }> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    sockets.push(socket);
    let data = "";
    socket.on("data", (c: Buffer) => (data += c.toString("utf8")));
    socket.on("error", () => {});
    const closed = new Promise<{ at: number; data: string }>((done) => socket.on("close", () => done({ at: Date.now(), data })));
    socket.on("connect", () => socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "));
    setTimeout(() => resolve({ socket, closed }), 0);
  });
}

/** GET /healthz from another loopback address; the status, or the error's code. */
function probe(localAddress: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/healthz", localAddress, agent: false, timeout: 3_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("timeout"), { code: "TIMEOUT" })));
    req.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

describe("slowloris: the documented connection limits hold", () => {
  it(`${HALF_OPEN} half-open requests from one address neither lock others out nor outlive the ${HEADERS_TIMEOUT_MS / 1000} s header limit`, async () => {
    const started = Date.now();
    const opened: Awaited<ReturnType<typeof halfOpen>>[] = [];
    for (let i = 0; i < HALF_OPEN; i += 100) {
      opened.push(...(await Promise.all(Array.from({ length: Math.min(100, HALF_OPEN - i) }, halfOpen))));
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 500));
    // One address holds at most its share (counted by the server); the rest are closed at once.
    const open = await new Promise<number>((r, j) => app.server.getConnections((err, n) => (err ? j(err) : r(n))));
    expect(open).toBeLessThanOrEqual(MAX_CONNECTIONS_PER_ADDRESS);
    expect(open).toBeGreaterThan(0);

    // Other clients are served meanwhile.
    expect(await probe("127.0.0.2")).toBe(200);
    expect(await probe("127.0.0.3")).toBe(200);

    // Every half-open request is closed once the header limit passes (Node checks every second).
    const closes = await Promise.all(opened.map((o) => o.closed));
    const last = Math.max(...closes.map((c) => c.at)) - started;
    expect(last).toBeLessThan(HEADERS_TIMEOUT_MS + 4_000);
    // Whatever an attacker's socket was sent before it closed was never a 2xx.
    for (const c of closes) expect(c.data).not.toMatch(/^HTTP\/1\.1 2/);
    // And the attacker's own address is served again afterwards.
    expect(await probe("127.0.0.1")).toBe(200);
  }, 25_000);
});

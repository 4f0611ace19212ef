import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { App } from "../../src/http/app.js";
import { testApp } from "../helpers.js";

let app: App;
let port: number;

beforeAll(async () => {
  app = (await testApp()).app;
  await app.listen({ host: "127.0.0.1", port: 0 });
  port = (app.server.address() as { port: number }).port;
});

afterAll(async () => {
  await app?.close();
});

/** Sends raw bytes and returns the status, content type and parsed body of the answer. */
function raw(request: string): Promise<{ status: number; type: string; body: { code?: string; status?: number } }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => socket.end(request));
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const [head = "", body = ""] = text.split("\r\n\r\n");
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      const type = /content-type: ([^\r\n]+)/i.exec(head)?.[1] ?? "";
      resolve({ status, type, body: body ? (JSON.parse(body) as { code?: string }) : {} });
    });
  });
}

describe("every 4xx from the framework or Node's parser is application/problem+json", () => {
  it("400 for a request Node cannot parse", async () => {
    const res = await raw("NOT A REQUEST\r\n\r\n");
    expect(res.status).toBe(400);
    expect(res.type).toContain("application/problem+json");
    expect(res.body).toMatchObject({ code: "bad_request", status: 400 });
  });

  it("431 for headers over Node's limit", async () => {
    const res = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    expect(res.status).toBe(431);
    expect(res.type).toContain("application/problem+json");
    expect(res.body).toMatchObject({ code: "headers_too_large", status: 431 });
  });

  it("414 for a path parameter over the router's limit", async () => {
    const res = await raw(`GET /v1/trust-domains/${"a".repeat(300)}/bundle HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(res.status).toBe(414);
    expect(res.type).toContain("application/problem+json");
    expect(res.body).toMatchObject({ code: "uri_too_long", status: 414 });
  });

  it("400 for a URL that does not decode", async () => {
    const res = await raw("GET /v1/trust-domains/%E0%A4%A/bundle HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    expect(res.status).toBe(400);
    expect(res.type).toContain("application/problem+json");
    expect(res.body).toMatchObject({ code: "bad_url", status: 400 });
  });
});

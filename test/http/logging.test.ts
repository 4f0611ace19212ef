import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { buildApp, LOG_REDACT } from "../../src/http/app.js";
import { makeCsr, testCore, TEST_CTX } from "../helpers.js";

describe("logs", () => {
  it("never carry a token, a private key or a CSR body, even at trace level", async () => {
    let log = "";
    const stream = new Writable({
      write(chunk, _enc, done) {
        log += chunk.toString();
        done();
      },
    });
    const { core, clock } = testCore();
    const app = await buildApp({
      core,
      clock,
      readiness: () => ({ ready: true, checks: {} }),
      logger: { level: "trace", stream, redact: { paths: LOG_REDACT, censor: "[redacted]" } },
    });
    const { secret } = await core.tokens.create({ name: "admin", role: "admin" }, TEST_CTX);
    const auth = { authorization: `Bearer ${secret}` };
    await app.inject({ method: "POST", url: "/v1/trust-domains", headers: auth, payload: { name: "cluster.local" } });
    await app.inject({ method: "POST", url: "/v1/clusters", headers: auth, payload: { name: "east", trustDomain: "cluster.local" } });
    const escrowed = (await app.inject({ method: "POST", url: "/v1/clusters/east/intermediates", headers: auth, payload: {} })).json();
    await app.inject({ url: "/v1/clusters/east/cacerts", headers: auth });
    const csr = await makeCsr();
    await app.inject({ method: "POST", url: "/v1/clusters", headers: auth, payload: { name: "west", trustDomain: "cluster.local" } });
    await app.inject({ method: "POST", url: "/v1/clusters/west/intermediates", headers: auth, payload: { csrPem: csr.pem } });
    const created = (await app.inject({ method: "POST", url: "/v1/tokens", headers: auth, payload: { name: "x", role: "auditor" } })).json();
    await app.inject({ url: "/v1/clusters", headers: { authorization: "Bearer mrt_wrong-token-value" } });

    expect(log.length).toBeGreaterThan(1000);
    expect(log).toContain("request completed");
    expect(log).not.toContain(secret);
    expect(log).not.toContain(created.token);
    expect(log).not.toContain("mrt_wrong-token-value");
    expect(log).not.toContain("PRIVATE KEY");
    expect(log).not.toContain(escrowed.cacerts["ca-key.pem"].split("\n")[1]);
    expect(log).not.toContain(csr.pem.split("\n")[1]);
    expect(log).not.toMatch(/authorization":"Bearer/);
  });
});

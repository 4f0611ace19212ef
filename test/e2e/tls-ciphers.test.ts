import { connect } from "node:tls";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tlsOptions } from "../../src/cli/serve.js";
import type { Config } from "../../src/config.js";
import { buildApp, type App } from "../../src/http/app.js";
import { openssl, tempDir, testCore } from "../helpers.js";

let app: App;
let port: number;

beforeAll(async () => {
  const dir = tempDir();
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1", "-keyout", keyFile, "-out", certFile]);
  const { core, clock } = testCore();
  const config = { tls: { certFile, keyFile, clientCaFile: undefined } } as unknown as Config;
  app = await buildApp({ core, clock, https: tlsOptions(config), readiness: () => ({ ready: true, checks: {} }) });
  await app.listen({ host: "127.0.0.1", port: 0 });
  port = (app.server.address() as { port: number }).port;
});

afterAll(async () => {
  await app?.close();
});

/** The negotiated cipher and protocol, or the handshake error's message. */
function handshake(opts: { ciphers?: string; minVersion?: "TLSv1" | "TLSv1.2"; maxVersion: "TLSv1.1" | "TLSv1.2" | "TLSv1.3" }): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...opts }, () => {
      resolve(`${socket.getProtocol()} ${socket.getCipher().standardName}`);
      socket.destroy();
    });
    socket.on("error", (err) => resolve(`refused: ${err.message}`));
  });
}

describe("TLS mode offers only forward-secret AEAD suites for TLS 1.2", () => {
  it("accepts ECDHE with AES-GCM or ChaCha20-Poly1305, and TLS 1.3", async () => {
    expect(await handshake({ maxVersion: "TLSv1.2", ciphers: "ECDHE-RSA-AES128-GCM-SHA256" })).toBe("TLSv1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    expect(await handshake({ maxVersion: "TLSv1.2", ciphers: "ECDHE-RSA-CHACHA20-POLY1305" })).toMatch(/^TLSv1\.2 TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305/);
    expect(await handshake({ maxVersion: "TLSv1.3" })).toMatch(/^TLSv1\.3 /);
  });

  it("refuses static-RSA key exchange, CBC suites and TLS before 1.2", async () => {
    for (const ciphers of ["AES128-GCM-SHA256", "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA256", "ECDHE-RSA-AES256-SHA", "DHE-RSA-AES128-GCM-SHA256"]) {
      expect(await handshake({ maxVersion: "TLSv1.2", ciphers }), ciphers).toMatch(/^refused/);
    }
    expect(await handshake({ minVersion: "TLSv1", maxVersion: "TLSv1.1", ciphers: "ECDHE-RSA-AES128-SHA@SECLEVEL=0" })).toMatch(/^refused/);
  });
});

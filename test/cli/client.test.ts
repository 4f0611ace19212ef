import { readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ApiError, clientConfig, clientFromOptions, ConnectionError, EXIT, UsageError } from "../../src/cli/client.js";
import { observationBody } from "../../src/cli/observe.js";
import { openssl, tempDir } from "../helpers.js";

const TOKEN = "mrt_unit-test-token-0123456789";

function write(name: string, text: string): string {
  const path = join(tempDir(), name);
  writeFileSync(path, text);
  return path;
}

describe("clientConfig", () => {
  it("needs MESHROOT_URL (or --url) and says so", () => {
    expect(() => clientConfig({}, { MESHROOT_TOKEN: TOKEN })).toThrow(/^MESHROOT_URL is not set/);
    expect(() => clientConfig({}, { MESHROOT_URL: "", MESHROOT_TOKEN: TOKEN })).toThrow(UsageError);
    expect(() => clientConfig({}, { MESHROOT_URL: "not a url", MESHROOT_TOKEN: TOKEN })).toThrow(/MESHROOT_URL is not a URL/);
    expect(() => clientConfig({ url: "ftp://x" }, { MESHROOT_TOKEN: TOKEN })).toThrow(/--url must be an http or https URL/);
    expect(() => clientConfig({}, { MESHROOT_URL: `https://u:${TOKEN}@h`, MESHROOT_TOKEN: TOKEN })).toThrow(/not in the URL/);
  });

  it("flags win over the environment; a base path is kept for relative requests", () => {
    const c = clientConfig({ url: "https://flag.example/meshroot" }, { MESHROOT_URL: "https://env.example", MESHROOT_TOKEN: TOKEN });
    expect(c.url.href).toBe("https://flag.example/meshroot/");
    expect(c.tokenSource).toBe("MESHROOT_TOKEN");
  });

  it("reads the token from a file (trimmed), refuses two sources, an empty token, or one with spaces", () => {
    const env = { MESHROOT_URL: "http://127.0.0.1:1" };
    const file = write("token", `${TOKEN}\n`);
    expect(clientConfig({}, { ...env, MESHROOT_TOKEN_FILE: file })).toMatchObject({ token: TOKEN, tokenSource: "MESHROOT_TOKEN_FILE" });
    expect(clientConfig({ tokenFile: file }, { ...env, MESHROOT_TOKEN: "other" })).toMatchObject({ token: TOKEN, tokenSource: "--token-file" });
    expect(() => clientConfig({}, { ...env, MESHROOT_TOKEN: TOKEN, MESHROOT_TOKEN_FILE: file })).toThrow(/MESHROOT_TOKEN or MESHROOT_TOKEN_FILE, not both/);
    expect(() => clientConfig({ token: TOKEN, tokenFile: file }, env)).toThrow(/not both/);
    expect(() => clientConfig({}, env)).toThrow(/^no API token/);
    expect(() => clientConfig({}, { ...env, MESHROOT_TOKEN_FILE: write("empty", "\n") })).toThrow(/MESHROOT_TOKEN_FILE is empty/);
    expect(() => clientConfig({}, { ...env, MESHROOT_TOKEN_FILE: "/nonexistent/token" })).toThrow(/MESHROOT_TOKEN_FILE: cannot read \/nonexistent\/token \(ENOENT\)/);
    let message = "";
    try {
      clientConfig({}, { ...env, MESHROOT_TOKEN: `${TOKEN} extra` });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/contains spaces/);
    expect(message).not.toContain(TOKEN);
  });

  it("MESHROOT_CA_FILE needs an https URL", () => {
    const ca = write("ca.pem", "x");
    expect(() => clientConfig({ caFile: ca }, { MESHROOT_URL: "http://h", MESHROOT_TOKEN: TOKEN })).toThrow(/--ca-file is set but the URL is not https/);
    expect(clientConfig({}, { MESHROOT_URL: "https://h", MESHROOT_TOKEN: TOKEN, MESHROOT_CA_FILE: ca }).ca).toBe("x");
  });
});

describe("the client's requests", () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  async function serve(handler: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<string> {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => handler(req, body, res));
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/base`;
  }

  it("sends the bearer token and raw bodies unedited, resolves JSON, text and 204", async () => {
    const seen: { method?: string; url?: string; auth?: string; type?: string; body: string }[] = [];
    const url = await serve((req, body, res) => {
      seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, type: req.headers["content-type"], body });
      if (req.method === "DELETE") return res.writeHead(204).end();
      if (req.url?.endsWith("/text")) return res.writeHead(200, { "content-type": "application/x-pem-file" }).end("PEM");
      res.writeHead(200, { "content-type": "application/json; charset=utf-8" }).end('{"ok":true}');
    });
    const api = clientFromOptions({ url }, { MESHROOT_TOKEN: TOKEN });
    const raw = '{ "kind": "ConfigMap",\n  "data": {} }';
    expect(await api.put("/v1/x", { raw })).toEqual({ ok: true });
    expect(await api.post("v1/y", { json: { a: 1 } })).toEqual({ ok: true });
    expect(await api.get("v1/text")).toBe("PEM");
    expect(await api.delete("v1/z")).toBeUndefined();
    expect(seen[0]).toEqual({ method: "PUT", url: "/base/v1/x", auth: `Bearer ${TOKEN}`, type: "application/json", body: raw });
    expect(seen[1]).toMatchObject({ method: "POST", url: "/base/v1/y", body: '{"a":1}' });
    expect(seen[3]).toMatchObject({ method: "DELETE", type: undefined, body: "" });
  });

  it("turns a problem into ApiError (exit 1) with its field errors, never carrying the token", async () => {
    const url = await serve((_req, _body, res) =>
      res.writeHead(400, { "content-type": "application/problem+json" }).end(
        JSON.stringify({ title: "Bad Request", status: 400, code: "validation_failed", detail: `bad header Bearer ${TOKEN}`, errors: [{ path: "body.a", message: "required" }] }),
      ),
    );
    const err = await clientFromOptions({ url }, { MESHROOT_TOKEN: TOKEN }).get("v1/x").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const api = err as ApiError;
    expect(api.exitCode).toBe(EXIT.refused);
    expect(api.status).toBe(400);
    expect(api.message).toBe("Bad Request: bad header Bearer [token]");
    expect(api.lines).toEqual(["  - body.a: required", "  code: validation_failed"]);
  });

  it("a 401 names where the token came from; a non-JSON error keeps the status and a short text", async () => {
    let status = 401;
    const url = await serve((_req, _body, res) =>
      status === 401
        ? res.writeHead(401, { "content-type": "application/problem+json" }).end(JSON.stringify({ title: "Unauthorized", status: 401, detail: "invalid or expired token" }))
        : res.writeHead(502, { "content-type": "text/html" }).end("<html>bad gateway</html>"),
    );
    const api = clientFromOptions({ url }, { MESHROOT_TOKEN: TOKEN });
    const unauthorized = (await api.get("v1/x").catch((e: unknown) => e)) as ApiError;
    expect(unauthorized.message).toBe("Unauthorized: invalid or expired token");
    expect(unauthorized.lines.join("\n")).toMatch(/the token came from MESHROOT_TOKEN/);
    status = 502;
    const gateway = (await api.get("v1/x").catch((e: unknown) => e)) as ApiError;
    expect(gateway.message).toBe("HTTP 502: <html>bad gateway</html>");
  });

  it("a server that is not there is a ConnectionError (exit 3)", async () => {
    const url = await serve(() => {});
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    const err = (await clientFromOptions({ url }, { MESHROOT_TOKEN: TOKEN }).get("v1/x").catch((e: unknown) => e)) as ConnectionError;
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.exitCode).toBe(EXIT.unreachable);
    expect(err.message).toMatch(/^cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused$/);
  });

  it("verifies an https server against MESHROOT_CA_FILE", async () => {
    const dir = tempDir();
    const key = join(dir, "key.pem");
    const cert = join(dir, "cert.pem");
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=test CA", "-addext", "subjectAltName=IP:127.0.0.1"]);
    const https = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
    await new Promise<void>((resolve) => https.listen(0, "127.0.0.1", resolve));
    try {
      const url = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
      const untrusted = (await clientFromOptions({ url }, { MESHROOT_TOKEN: TOKEN }).get("v1/x").catch((e: unknown) => e)) as ConnectionError;
      expect(untrusted).toBeInstanceOf(ConnectionError);
      expect(untrusted.message).toMatch(/self-signed \(set MESHROOT_CA_FILE\)/);
      expect(await clientFromOptions({ url, caFile: cert }, { MESHROOT_TOKEN: TOKEN }).get("v1/x")).toEqual({});
    } finally {
      await new Promise<void>((resolve) => https.close(() => resolve()));
    }
  });
});

describe("observationBody", () => {
  it("builds the JSON form from files and facts, only with what was given", async () => {
    const root = write("root.pem", "ROOT\n");
    expect(await observationBody({ cluster: "c", rootCert: root })).toEqual({ json: { rootCertPem: "ROOT\n" } });
    const ca = write("ca.pem", "CA");
    const crl = write("crl.pem", "CRL");
    expect(await observationBody({ cluster: "c", rootCert: root, caCert: ca, crl, istioVersion: "1.27.2", multiRoot: false, ambient: true })).toEqual({
      json: { rootCertPem: "ROOT\n", caCertPem: "CA", crlPem: "CRL", istioVersion: "1.27.2", multiRoot: false, ambient: true },
    });
  });

  it("sends a ConfigMap file as it is; refuses mixing forms, no input, or an empty ConfigMap", async () => {
    const cm = write("cm.json", '{"kind":"ConfigMap"}');
    expect(await observationBody({ cluster: "c", configmap: cm })).toEqual({ raw: '{"kind":"ConfigMap"}' });
    await expect(observationBody({ cluster: "c", configmap: cm, rootCert: cm })).rejects.toThrow(/does not go with --root-cert/);
    await expect(observationBody({ cluster: "c", configmap: cm, multiRoot: false })).rejects.toThrow(/does not go with --\[no-\]multi-root/);
    await expect(observationBody({ cluster: "c" })).rejects.toThrow(/--root-cert FILE/);
    await expect(observationBody({ cluster: "c", caCert: cm })).rejects.toThrow(UsageError);
    await expect(observationBody({ cluster: "c", configmap: write("empty.json", " \n") })).rejects.toThrow(/is empty/);
  });
});

import { readdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { rotateCommand } from "../../src/cli/rotate.js";
import { tempDir } from "../helpers.js";

const TOKEN = "mrt_unit-test-token-0123456789";

describe("rotate in client mode", () => {
  let server: Server | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it("runs the rotation, fetches each rotated cluster's Secret with ca-crl.pem, and still reports (exit 1) when one cannot be fetched", async () => {
    const seen: string[] = [];
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        seen.push(`${req.method} ${req.url} ${body}`);
        if (req.url === "/v1/rotations/run") {
          const rotated = ["east", "west"].map((cluster) => ({ cluster, previousSerial: "01", serial: "02", generation: 2, notAfter: "2027-01-01T00:00:00.000Z" }));
          return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ dryRun: false, rotated, skipped: [], wouldRotate: [], failed: [] }));
        }
        if (req.url?.startsWith("/v1/clusters/east/cacerts")) return res.writeHead(200, { "content-type": "application/yaml", "meshroot-crl-missing": "0abc" }).end("kind: Secret\n");
        res.writeHead(409, { "content-type": "application/problem+json" }).end(JSON.stringify({ title: "Conflict", status: 409, detail: "west: no escrowed key" }));
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const out = join(tempDir(), "nested", "rotated");
    const stdout: string[] = [];
    const stderr: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((s) => (stdout.push(String(s)), true));
    vi.spyOn(process.stderr, "write").mockImplementation((s) => (stderr.push(String(s)), true));

    await rotateCommand({ url, token: TOKEN, due: true, out, crl: true, namespace: "istio-system", trustDomain: "mesh.example.com" });

    expect(seen[0]).toBe('POST /v1/rotations/run {"dryRun":false,"trustDomain":"mesh.example.com"}');
    expect(seen[1]).toBe("GET /v1/clusters/east/cacerts?namespace=istio-system&crl=true ");
    expect(readdirSync(out)).toEqual(["east.yaml"]);
    expect(readFileSync(join(out, "east.yaml"), "utf8")).toBe("kind: Secret\n");
    expect(statSync(join(out, "east.yaml")).mode & 0o777).toBe(0o600);
    expect(statSync(out).mode & 0o777).toBe(0o700);
    expect(JSON.parse(stdout.join("")).rotated).toHaveLength(2);
    const errors = stderr.join("");
    expect(errors).toMatch(/east: ca-crl\.pem lacks the CRLs of external-custody intermediates 0abc/);
    expect(errors).toMatch(/west was rotated but its Secret could not be fetched: Conflict: west: no escrowed key; fetch it with meshroot cacerts west/);
    expect(errors).toMatch(/rotation through http:\/\/127\.0\.0\.1:\d+: 2 rotated, 0 skipped, 0 failed; Secrets in /);
    expect(errors).not.toContain(TOKEN);
    expect(process.exitCode).toBe(1);
  });

  it("--all writes every live escrowed cluster's Secret across pages, reports pending staged rotations, and skips the others", async () => {
    const seen: string[] = [];
    const item = (name: string, custody: string | null, decommissionedAt: string | null = null) => ({ name, decommissionedAt, activeIntermediate: custody && { custody } });
    server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const json = (body: object) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
      if (req.url === "/v1/rotations/run") {
        const pending = [{ cluster: "east", serial: "02", generation: 2, prepared: true, waitingFor: [{ cluster: "west", code: "crl_not_loaded", detail: "…" }], leadEndsAt: null }];
        return req.resume().on("end", () => json({ dryRun: false, rotated: [], pending, skipped: [], wouldRotate: [], failed: [] }));
      }
      if (req.url === "/v1/clusters?limit=500") return json({ items: [item("east", "escrowed"), item("ext", "external"), item("gone", "escrowed", "2026-01-01T00:00:00Z")], nextCursor: "c2" });
      if (req.url === "/v1/clusters?limit=500&cursor=c2") return json({ items: [item("new", null), item("west", "escrowed")], nextCursor: null });
      const m = /^\/v1\/clusters\/(\w+)\/cacerts/.exec(req.url ?? "");
      if (m) return res.writeHead(200, { "content-type": "application/yaml" }).end(`name: ${m[1]}\n`);
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const out = join(tempDir(), "all");
    const stderr: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    vi.spyOn(process.stderr, "write").mockImplementation((s) => (stderr.push(String(s)), true));
    await rotateCommand({ url, token: TOKEN, due: true, out, crl: true, all: true, namespace: "istio-system" });
    expect(readdirSync(out).sort()).toEqual(["east.yaml", "west.yaml"]);
    expect(readFileSync(join(out, "west.yaml"), "utf8")).toBe("name: west\n");
    expect(seen).toContain("GET /v1/clusters/east/cacerts?namespace=istio-system&crl=true");
    const errors = stderr.join("");
    expect(errors).toMatch(/0 rotated, 1 pending, 0 skipped, 0 failed/);
    expect(errors).toMatch(/east: generation 2 prepared, waiting for 1 peer\(s\) to load its CRL \(west\)/);
    expect(errors).toMatch(/--all: 3 cluster\(s\) without an escrowed active intermediate/);
    expect(process.exitCode).toBeUndefined();
  });

  it("creates the output folder, empty, when nothing was due: a loop over it never meets a missing path", async () => {
    server = createServer((_req, res) =>
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ dryRun: false, rotated: [], skipped: [], wouldRotate: [], failed: [] })),
    );
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const out = join(tempDir(), "nothing", "due");
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    await rotateCommand({ url, token: TOKEN, due: true, out, namespace: "istio-system" });
    expect(readdirSync(out)).toEqual([]);
    expect(statSync(out).mode & 0o777).toBe(0o700);
    expect(process.exitCode).toBeUndefined();
  });
});

import * as x509 from "@peculiar/x509";
import { beforeEach, describe, expect, it } from "vitest";
import { pkcs8Pem } from "../../src/x509/private-keys.js";
import { crypto, generateKeys, rowCounts, testApp, type TestApp } from "../helpers.js";

let t: TestApp;
beforeEach(async () => {
  t = await testApp();
});

const post = (payload: unknown) =>
  t.app.inject({ method: "POST", url: "/v1/trust-domains", headers: t.auth(), payload: payload as object });

describe("POST /v1/trust-domains", () => {
  it("creates a trust domain with a generated root and returns it", async () => {
    const res = await post({ name: "mesh.example.com", root: { keyAlgorithm: "ecdsa-p384", validityDays: 1000, organization: "Acme" } });
    expect(res.statusCode).toBe(201);
    const body = res.json();
    expect(body.name).toBe("mesh.example.com");
    expect(body.organization).toBe("Acme");
    expect(body.roots).toHaveLength(1);
    const root = body.roots[0];
    expect(root).toMatchObject({ generation: 1, status: "active", imported: false, keyAlgorithm: "ecdsa-p384", subject: "O=Acme, CN=mesh.example.com Root CA" });
    const cert = new x509.X509Certificate(root.certificatePem);
    expect(cert.serialNumber).toBe(root.serial);
    expect(root.notAfter).toBe(cert.notAfter.toISOString());
    // Read back through the API and from the database.
    const again = await t.app.inject({ url: "/v1/trust-domains/mesh.example.com", headers: t.auth() });
    expect(body.warnings).toEqual([]);
    const { warnings: _, ...domain } = body;
    expect(again.json()).toEqual(domain);
    const row = t.db.prepare("SELECT serial, key_algorithm, key_ref FROM roots").get() as { serial: string; key_algorithm: string; key_ref: string };
    expect(row.serial).toBe(root.serial);
    expect(row.key_algorithm).toBe("ecdsa-p384");
    // A key reference, never key bytes: the envelope (magic "MRK1") sealed for this row.
    const [scheme, kind, serial, hex] = row.key_ref.split(":");
    expect([scheme, kind, serial]).toEqual(["sealed", "root", root.serial]);
    expect(Buffer.from(hex!, "hex").subarray(0, 4).toString()).toBe("MRK1");
    expect(body).not.toHaveProperty("keyRef");
  });

  it("imports a root and refuses one whose key does not match", async () => {
    const keys = await generateKeys("ecdsa-p256");
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: "0a0b",
      name: "CN=Legacy Root, O=Legacy",
      keys,
      notBefore: new Date("2025-01-01T00:00:00Z"),
      notAfter: new Date("2035-01-01T00:00:00Z"),
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true), await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)],
    });
    const keyPem = pkcs8Pem(new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey)));
    const other = pkcs8Pem(new Uint8Array(await crypto.subtle.exportKey("pkcs8", (await generateKeys("ecdsa-p256")).privateKey)));
    const before = rowCounts(t.db);
    const bad = await post({ name: "legacy.example", import: { certificatePem: cert.toString("pem"), privateKeyPem: other } });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().code).toBe("key_mismatch");
    expect(rowCounts(t.db)).toEqual(before);
    const ok = await post({ name: "legacy.example", import: { certificatePem: cert.toString("pem"), privateKeyPem: keyPem } });
    expect(ok.statusCode).toBe(201);
    expect(ok.json().roots[0]).toMatchObject({ imported: true, serial: "0a0b", subject: "CN=Legacy Root, O=Legacy" });
    expect(ok.json().roots[0].certificatePem).not.toContain("PRIVATE KEY");
    expect(ok.json().warnings).toEqual([]);
    // The same root for another trust domain: 409 root_in_use naming the first, nothing written.
    const before2 = rowCounts(t.db);
    const again = await post({ name: "other.example", import: { certificatePem: cert.toString("pem"), privateKeyPem: keyPem } });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe("root_in_use");
    expect(again.json().detail).toContain("legacy.example");
    expect(rowCounts(t.db)).toEqual(before2);
  });

  it("imports a root without a subject key identifier with a warning, and refuses a pathlen:0 root with 422", async () => {
    const keys = await generateKeys("ecdsa-p256");
    const keyPem = pkcs8Pem(new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey)));
    const make = (pathLength?: number) =>
      x509.X509CertificateGenerator.createSelfSigned({
        serialNumber: pathLength === undefined ? "0c01" : "0c02",
        name: "CN=No SKI Root, O=Legacy",
        keys,
        notBefore: new Date("2025-01-01T00:00:00Z"),
        notAfter: new Date("2035-01-01T00:00:00Z"),
        extensions: [new x509.BasicConstraintsExtension(true, pathLength, true)],
      });
    const bad = await post({ name: "pathlen.example", import: { certificatePem: (await make(0)).toString("pem"), privateKeyPem: keyPem } });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().code).toBe("root_path_length");
    const ok = await post({ name: "noski.example", import: { certificatePem: (await make()).toString("pem"), privateKeyPem: keyPem } });
    expect(ok.statusCode).toBe(201);
    expect(ok.json().warnings).toEqual([expect.stringContaining("subjectKeyIdentifier")]);
  });

  it("refuses a duplicate name with 409 and writes nothing", async () => {
    expect((await post({ name: "cluster.local" })).statusCode).toBe(201);
    const before = rowCounts(t.db);
    const dup = await post({ name: "cluster.local" });
    expect(dup.statusCode).toBe(409);
    expect(dup.json().code).toBe("trust_domain_exists");
    expect(rowCounts(t.db)).toEqual(before);
  });

  it.each([
    [{ name: "Not A DNS Name" }, "body.name"],
    [{ name: "-bad.example" }, "body.name"],
    [{ name: "a".repeat(64) + ".example" }, "body.name"],
    [{ name: "ok.example", extra: 1 }, "body"],
    [{ name: "ok.example", root: { keyAlgorithm: "dsa-1024" } }, "body.root.keyAlgorithm"],
    [{ name: "ok.example", root: { validityDays: 0 } }, "body.root.validityDays"],
    [{ name: "ok.example", root: { organization: "Bad\u0000Org" } }, "body.root.organization"],
    [{ name: "ok.example", root: {}, import: { certificatePem: "x", privateKeyPem: "y" } }, "body.import"],
    [{}, "body.name"],
  ])("rejects %j with a 400 naming %s", async (payload, path) => {
    const before = rowCounts(t.db);
    const res = await post(payload);
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body).toMatchObject({ code: "validation_failed", status: 400, type: "urn:meshroot:problem:validation_failed" });
    expect(body.requestId).toBe(res.headers["x-request-id"]);
    expect(body.errors.map((e: { path: string }) => e.path)).toContain(path);
    expect(rowCounts(t.db)).toEqual(before);
  });
});

describe("GET /v1/trust-domains and the bundle", () => {
  it("lists with cursor pagination", async () => {
    for (const n of ["a.example", "b.example", "c.example"]) await post({ name: n });
    const page1 = (await t.app.inject({ url: "/v1/trust-domains?limit=2", headers: t.auth() })).json();
    expect(page1.items.map((d: { name: string }) => d.name)).toEqual(["a.example", "b.example"]);
    expect(page1.nextCursor).toEqual(expect.any(String));
    const page2 = (await t.app.inject({ url: `/v1/trust-domains?limit=2&cursor=${page1.nextCursor}`, headers: t.auth() })).json();
    expect(page2.items.map((d: { name: string }) => d.name)).toEqual(["c.example"]);
    expect(page2.nextCursor).toBeNull();
    const bad = await t.app.inject({ url: "/v1/trust-domains?cursor=garbage", headers: t.auth() });
    expect(bad.statusCode).toBe(400);
    expect((await t.app.inject({ url: "/v1/trust-domains?limit=0", headers: t.auth() })).statusCode).toBe(400);
  });

  it("serves the public PEM bundle and 404s for an unknown trust domain", async () => {
    const created = (await post({ name: "cluster.local" })).json();
    const res = await t.app.inject({ url: "/v1/trust-domains/cluster.local/bundle" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("application/x-pem-file");
    expect(res.body).toBe(created.roots[0].certificatePem);
    const missing = await t.app.inject({ url: "/v1/trust-domains/nope.example/bundle" });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().code).toBe("trust_domain_not_found");
    expect((await t.app.inject({ url: "/v1/trust-domains/nope.example", headers: t.auth() })).statusCode).toBe(404);
  });
});

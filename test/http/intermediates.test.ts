import * as x509 from "@peculiar/x509";
import { beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { cert, makeCsr, rowCounts, testApp, type TestApp, TEST_CTX } from "../helpers.js";

let t: TestApp;
beforeEach(async () => {
  t = await testApp();
  await t.core.trustDomains.create({ name: "mesh.example.com" }, TEST_CTX);
  await t.core.clusters.register({ name: "east", trustDomain: "mesh.example.com" }, TEST_CTX);
});

const issue = (payload?: unknown, headers: Record<string, string> = {}, cluster = "east") =>
  t.app.inject({
    method: "POST",
    url: `/v1/clusters/${cluster}/intermediates`,
    headers: { ...t.auth(), ...headers },
    ...(payload === undefined ? {} : { payload: payload as object }),
  });

const decode = (data: Record<string, string>) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));

describe("POST /v1/clusters/{name}/intermediates", () => {
  it("issues an escrowed intermediate with its cacerts files; a body is optional", async () => {
    const res = await issue();
    expect(res.statusCode).toBe(201);
    const { intermediate, cacerts } = res.json();
    expect(intermediate).toMatchObject({ cluster: "east", trustDomain: "mesh.example.com", generation: 1, status: "active", custody: "escrowed", supersedes: null });
    expect(Object.keys(cacerts)).toEqual(["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]);
    expect(cacerts["ca-cert.pem"]).toBe(intermediate.certificatePem);
    expect(cacerts["ca-key.pem"]).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const root = (await t.core.trustDomains.get("mesh.example.com")).roots[0]!;
    expect(cacerts["cert-chain.pem"]).toBe(intermediate.certificatePem + root.certPem);
    expect(cacerts["root-cert.pem"]).toBe(root.certPem);
    // The key in the response is the key of the certificate.
    const key = await crypto.subtle.importKey("pkcs8", Buffer.from(cacerts["ca-key.pem"].replace(/-----[^-]+-----|\s/g, ""), "base64"), { name: "ECDSA", namedCurve: "P-256" }, true, ["sign"]);
    const jwk = await crypto.subtle.exportKey("jwk", key);
    const pub = await crypto.subtle.importKey("jwk", { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, { name: "ECDSA", namedCurve: "P-256" }, true, ["verify"]);
    expect(Buffer.from(await crypto.subtle.exportKey("spki", pub)).equals(Buffer.from(cert(intermediate.certificatePem).publicKey.rawData))).toBe(true);
    // The row holds the sealed key, not the PEM.
    const row = t.db.prepare("SELECT sealed_key, status, subject FROM intermediates WHERE serial = ?").get(intermediate.serial) as { sealed_key: Buffer; status: string; subject: string };
    expect(row.status).toBe("active");
    // The stored subject is the certificate's own.
    expect(row.subject).toBe(cert(intermediate.certificatePem).subject);
    expect(intermediate.subject).toBe(row.subject);
    expect(row.sealed_key.includes(Buffer.from("PRIVATE KEY"))).toBe(false);
  });

  it("issues from a CSR without returning a key", async () => {
    const { pem } = await makeCsr();
    const res = await issue({ csrPem: pem });
    expect(res.statusCode).toBe(201);
    expect(res.json().intermediate.custody).toBe("external");
    expect(res.json().cacerts["ca-key.pem"]).toBeUndefined();
  });

  it("issuing again supersedes the previous generation; the list shows every generation", async () => {
    const g1 = (await issue({})).json().intermediate;
    const g2 = (await issue({})).json().intermediate;
    expect(g2).toMatchObject({ generation: 2, supersedes: g1.serial, status: "active" });
    const list = (await t.app.inject({ url: "/v1/clusters/east/intermediates", headers: t.auth() })).json();
    expect(list.items.map((i: { generation: number; status: string; supersededBy: string | null }) => [i.generation, i.status, i.supersededBy])).toEqual([
      [2, "active", null],
      [1, "superseded", g2.serial],
    ]);
    const page = (await t.app.inject({ url: "/v1/clusters/east/intermediates?limit=1", headers: t.auth() })).json();
    expect(page.items).toHaveLength(1);
    const page2 = (await t.app.inject({ url: `/v1/clusters/east/intermediates?limit=1&cursor=${page.nextCursor}`, headers: t.auth() })).json();
    expect(page2.items[0].generation).toBe(1);
    expect(page2.nextCursor).toBeNull();
    const cluster = (await t.app.inject({ url: "/v1/clusters/east", headers: t.auth() })).json();
    expect(cluster.activeIntermediate.serial).toBe(g2.serial);
  });

  it("Idempotency-Key: a retry returns the same intermediate (200) and writes nothing", async () => {
    const first = await issue({}, { "idempotency-key": "deploy-42" });
    expect(first.statusCode).toBe(201);
    const before = rowCounts(t.db);
    const retry = await issue({}, { "idempotency-key": "deploy-42" });
    expect(retry.statusCode).toBe(200);
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    expect(retry.json()).toEqual(first.json());
    expect(rowCounts(t.db)).toEqual(before);
    const other = await issue({}, { "idempotency-key": "deploy-43" });
    expect(other.statusCode).toBe(201);
    expect(other.json().intermediate.generation).toBe(2);
  });

  it("Idempotency-Key reused with a different body is a 422", async () => {
    await issue({}, { "idempotency-key": "k" });
    const { pem } = await makeCsr();
    const res = await issue({ csrPem: pem }, { "idempotency-key": "k" });
    expect([res.statusCode, res.json().code]).toEqual([422, "idempotency_key_reused"]);
    const badKey = await issue({}, { "idempotency-key": "x".repeat(256) });
    expect(badKey.statusCode).toBe(400);
    expect(badKey.json().errors[0].path).toBe("headers.idempotency-key");
  });

  it("concurrent issuance with one Idempotency-Key yields one generation", async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => issue({}, { "idempotency-key": "same" })));
    const serials = new Set(results.map((r) => r.json().intermediate.serial));
    expect(serials.size).toBe(1);
    expect(results.filter((r) => r.statusCode === 201)).toHaveLength(1);
    expect(rowCounts(t.db).intermediates).toBe(1);
  });

  it("concurrent issuance without keys: 201 or 409, dense generations, one active", async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => issue({})));
    for (const r of results) expect([201, 409]).toContain(r.statusCode);
    const conflicts = results.filter((r) => r.statusCode === 409);
    for (const c of conflicts) expect(c.json().code).toBe("rotation_in_progress");
    const rows = t.db.prepare("SELECT generation, status FROM intermediates ORDER BY generation").all() as { generation: number; status: string }[];
    expect(rows.map((r) => r.generation)).toEqual(rows.map((_, i) => i + 1));
    expect(rows.filter((r) => r.status === "active")).toHaveLength(1);
    expect(rows.length).toBe(results.length - conflicts.length);
  });

  it.each([
    ["not PEM", () => ({ csrPem: "hello" }), 400, "invalid_pem"],
    ["a certificate, not a CSR", async () => ({ csrPem: (await t.core.trustDomains.get("mesh.example.com")).roots[0]!.certPem }), 400, "invalid_pem"],
    ["broken base64", () => ({ csrPem: "-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n-----END CERTIFICATE REQUEST-----" }), 400, "invalid_pem"],
    ["truncated DER", async () => ({ csrPem: truncate((await makeCsr()).pem) }), 400, "invalid_csr"],
    ["a bad signature", async () => ({ csrPem: badSignature((await makeCsr()).pem) }), 422, "csr_signature_invalid"],
    ["an unsupported key", async () => ({ csrPem: await p521Csr() }), 422, "unsupported_key_algorithm"],
    ["a key outside the cluster's policy", async () => ({ csrPem: (await makeCsr("ecdsa-p384")).pem }), 422, "policy_violation"],
    ["an unknown field", () => ({ csr: "x" }), 400, "validation_failed"],
    ["an oversized CSR", () => ({ csrPem: "A".repeat(40_000) }), 400, "validation_failed"],
  ] as const)("rejects a CSR that is %s and writes nothing", async (_what, body, status, code) => {
    const before = rowCounts(t.db);
    const res = await issue(await body());
    expect(res.statusCode, res.body).toBe(status);
    expect(res.json().code).toBe(code);
    expect(rowCounts(t.db)).toEqual(before);
  });

  it("404s for an unknown cluster", async () => {
    const res = await issue({}, {}, "west");
    expect([res.statusCode, res.json().code]).toEqual([404, "cluster_not_found"]);
  });
});

describe("GET /v1/clusters/{name}/cacerts", () => {
  it("renders the Opaque istiod Secret in YAML by default", async () => {
    const issued = (await issue({})).json();
    const res = await t.app.inject({ url: "/v1/clusters/east/cacerts", headers: t.auth() });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("application/yaml");
    expect(res.headers["cache-control"]).toBe("no-store");
    const secret = parse(res.body);
    expect(secret).toMatchObject({
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      metadata: {
        name: "cacerts",
        namespace: "istio-system",
        labels: { "app.kubernetes.io/managed-by": "meshroot", "meshroot.io/cluster": "east", "meshroot.io/generation": "1" },
        annotations: { "meshroot.io/serial": issued.intermediate.serial, "meshroot.io/not-after": issued.intermediate.notAfter, "meshroot.io/trust-domain": "mesh.example.com" },
      },
    });
    expect(Object.keys(secret.data)).toEqual(["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]);
    expect(decode(secret.data)).toEqual(issued.cacerts);
    expect(res.body).not.toContain("istio-generated");
  });

  it("renders JSON, the kubernetes.io/tls type, and another namespace", async () => {
    const issued = (await issue({})).json();
    const res = await t.app.inject({ url: "/v1/clusters/east/cacerts?format=json&type=tls&namespace=mesh-system", headers: t.auth() });
    expect(res.headers["content-type"]).toContain("application/json");
    const secret = res.json();
    expect(secret.type).toBe("kubernetes.io/tls");
    expect(secret.metadata.namespace).toBe("mesh-system");
    expect(decode(secret.data)).toEqual({
      "tls.crt": issued.cacerts["ca-cert.pem"],
      "tls.key": issued.cacerts["ca-key.pem"],
      "ca.crt": issued.cacerts["root-cert.pem"],
    });
  });

  it("follows the active generation after a rotation", async () => {
    await issue({});
    const g2 = (await issue({})).json();
    const secret = parse((await t.app.inject({ url: "/v1/clusters/east/cacerts", headers: t.auth() })).body);
    expect(secret.metadata.labels["meshroot.io/generation"]).toBe("2");
    expect(decode(secret.data)["ca-cert.pem"]).toBe(g2.intermediate.certificatePem);
  });

  it("refuses external custody and a cluster without an intermediate with clear 409s", async () => {
    const none = await t.app.inject({ url: "/v1/clusters/east/cacerts", headers: t.auth() });
    expect([none.statusCode, none.json().code]).toEqual([409, "no_active_intermediate"]);
    await issue({ csrPem: (await makeCsr()).pem });
    const ext = await t.app.inject({ url: "/v1/clusters/east/cacerts", headers: t.auth() });
    expect([ext.statusCode, ext.json().code]).toEqual([409, "external_custody"]);
    expect(ext.json().detail).toContain("ca-key.pem");
  });

  it.each(["format=xml", "type=generic", "namespace=Bad_NS", "extra=1"])("rejects ?%s", async (q) => {
    await issue({});
    const res = await t.app.inject({ url: `/v1/clusters/east/cacerts?${q}`, headers: t.auth() });
    expect([res.statusCode, res.json().code]).toEqual([400, "validation_failed"]);
  });
});

function truncate(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.subarray(0, 60).toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
}

function badSignature(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64");
  der[der.length - 3]! ^= 0x01;
  return new x509.Pkcs10CertificateRequest(der).toString("pem");
}

async function p521Csr(): Promise<string> {
  const keys = (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-521" }, true, ["sign", "verify"])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: "CN=x", keys, signingAlgorithm: { name: "ECDSA", hash: "SHA-512" } as EcdsaParams });
  return csr.toString("pem");
}

import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { openssl, tempDir } from "../helpers.js";
import { CLI, client, startServer, type Server } from "./server.js";

const TD = "mesh.example.com";
let server: Server;
let dataDir: string;
let work: string;
let admin: ReturnType<typeof client>;

beforeAll(async () => {
  dataDir = join(tempDir(), "data");
  work = tempDir("meshroot-lifecycle-");
  // The storms below issue far more than a day's share for one cluster.
  server = await startServer({ MESHROOT_DATA_DIR: dataDir, MESHROOT_PUBLIC_URL: "https://meshroot.example.com", MESHROOT_MAX_ISSUANCES_PER_CLUSTER_PER_DAY: "1000" });
  admin = client(server.url, readFileSync(join(dataDir, "admin.token"), "utf8").trim());
  expect((await admin("POST", "/v1/trust-domains", { name: TD })).status).toBe(201);
  for (const name of ["east", "west", "north"]) expect((await admin("POST", "/v1/clusters", { name, trustDomain: TD })).status).toBe(201);
});

afterAll(async () => {
  await server?.stop();
});

/** Fetches a cluster's Secret (with ca-crl.pem) and writes its files into work/<dir>. */
async function secretFiles(cluster: string, dir: string, query = "crl=true"): Promise<string> {
  const res = await admin("GET", `/v1/clusters/${cluster}/cacerts?${query}`);
  expect(res.status, res.text).toBe(200);
  const path = join(work, dir);
  mkdirSync(path, { recursive: true });
  for (const [k, v] of Object.entries(parse(res.text).data as Record<string, string>)) writeFileSync(join(path, k), Buffer.from(v, "base64"));
  return path;
}

function crlNumberOf(file: string): number {
  return parseInt(openssl(["crl", "-inform", "DER", "-in", file, "-noout", "-crlnumber"]).split("=")[1]!.trim(), 16);
}

function verifies(args: string[]): boolean {
  const r = spawnSync("openssl", ["verify", ...args], { encoding: "utf8" });
  return r.status === 0 && r.stdout.includes(": OK");
}

describe("revocation and CRLs, checked with openssl", () => {
  it("the root CRL verifies, carries the CRL DP of new intermediates, and rejects a revoked intermediate", async () => {
    const east = (await admin("POST", "/v1/clusters/east/intermediates", {})).json().intermediate;
    const west = (await admin("POST", "/v1/clusters/west/intermediates", {})).json().intermediate;
    writeFileSync(join(work, "east.pem"), east.certificatePem);
    writeFileSync(join(work, "west.pem"), west.certificatePem);
    const text = openssl(["x509", "-in", join(work, "east.pem"), "-noout", "-text"]);
    expect(text).toContain(`URI:https://meshroot.example.com/v1/trust-domains/${TD}/crl`);
    expect(text).toContain(`CA Issuers - URI:https://meshroot.example.com/v1/trust-domains/${TD}/roots/`);
    const rootPem = (await client(server.url)("GET", `/v1/trust-domains/${TD}/bundle`)).text;
    writeFileSync(join(work, "root.pem"), rootPem);
    const aia = /CA Issuers - URI:https:\/\/meshroot\.example\.com(\S+)/.exec(text)![1]!;
    writeFileSync(join(work, "root.der"), Buffer.from(await (await fetch(server.url + aia)).arrayBuffer()));
    expect(openssl(["x509", "-inform", "DER", "-in", join(work, "root.der"), "-noout", "-subject"])).toContain(`${TD} Root CA`);

    const fetchCrl = async (name: string) => {
      const res = await fetch(`${server.url}/v1/trust-domains/${TD}/crl`);
      expect(res.headers.get("content-type")).toContain("application/pkix-crl");
      writeFileSync(join(work, name), Buffer.from(await res.arrayBuffer()));
      return join(work, name);
    };
    const crl1 = await fetchCrl("crl1.der");
    expect(spawnSync("openssl", ["crl", "-inform", "DER", "-in", crl1, "-CAfile", join(work, "root.pem"), "-noout"], { encoding: "utf8" }).stderr).toContain("verify OK");
    const pemCrl = (await client(server.url)("GET", `/v1/trust-domains/${TD}/crl?format=pem`)).text;
    expect(pemCrl).toMatch(/^-----BEGIN X509 CRL-----/);

    expect((await admin("POST", `/v1/certificates/${west.serial}/revoke`, { reason: "keyCompromise" })).status).toBe(200);
    const crl2 = await fetchCrl("crl2.der");
    expect(crlNumberOf(crl2)).toBeGreaterThan(crlNumberOf(crl1));
    const listing = openssl(["crl", "-inform", "DER", "-in", crl2, "-noout", "-text"]);
    expect(listing).toContain(west.serial.toUpperCase());
    expect(listing).toContain("Key Compromise");
    openssl(["crl", "-inform", "DER", "-in", crl2, "-out", join(work, "crl2.pem")]);
    expect(verifies(["-crl_check", "-CAfile", join(work, "root.pem"), "-CRLfile", join(work, "crl2.pem"), join(work, "west.pem")])).toBe(false);
    expect(verifies(["-crl_check", "-CAfile", join(work, "root.pem"), "-CRLfile", join(work, "crl2.pem"), join(work, "east.pem")])).toBe(true);

    expect((await admin("POST", `/v1/certificates/${west.serial}/revoke`, { reason: "keyCompromise" })).status).toBe(409);
    const crl3 = await fetchCrl("crl3.der");
    expect(crlNumberOf(crl3)).toBe(crlNumberOf(crl2));
  });

  it("a revocation of cluster B reaches cluster A's Envoys through A's ca-crl.pem", async () => {
    // Fresh generations for both (west was revoked above).
    expect((await admin("POST", "/v1/clusters/west/intermediates", {})).status).toBe(201);
    expect((await admin("POST", "/v1/clusters/east/intermediates", {})).status).toBe(201);
    const b = await secretFiles("west", "b1");
    // A workload of cluster B, the way istiod would sign it.
    writeFileSync(join(work, "leaf.ext"), "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=critical,URI:spiffe://mesh.example.com/ns/default/sa/b\nauthorityKeyIdentifier=keyid\n");
    openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(work, "leaf.key"), "-subj", "/O=b", "-out", join(work, "leaf.csr")]);
    openssl(["x509", "-req", "-in", join(work, "leaf.csr"), "-CA", join(b, "ca-cert.pem"), "-CAkey", join(b, "ca-key.pem"), "-set_serial", "77", "-days", "1", "-extfile", join(work, "leaf.ext"), "-out", join(work, "leaf.pem")]);

    const a1 = await secretFiles("east", "a1");
    const crlText = readFileSync(join(a1, "ca-crl.pem"), "utf8");
    const crls = crlText.match(/BEGIN X509 CRL/g)!.length;
    // root + east g1 (superseded) + east g2 + west g2; west g1 is revoked.
    expect(crls).toBe(4);
    const envoy = (a: string) => ["-crl_check_all", "-CAfile", join(a, "root-cert.pem"), "-CRLfile", join(a, "ca-crl.pem"), "-untrusted", join(b, "ca-cert.pem"), join(work, "leaf.pem")];
    expect(verifies(envoy(a1))).toBe(true);
    // istiod's own check: a CRL from every certificate in its cert-chain.pem.
    expect(verifies(["-crl_check_all", "-CAfile", join(a1, "root-cert.pem"), "-CRLfile", join(a1, "ca-crl.pem"), join(a1, "cert-chain.pem")])).toBe(true);

    const bSerial = (await admin("GET", "/v1/clusters/west")).json().activeIntermediate.serial;
    expect((await admin("POST", `/v1/certificates/${bSerial}/revoke`, { reason: "keyCompromise" })).status).toBe(200);
    expect((await admin("GET", "/v1/clusters/west")).json().status).toBe("revoked");
    const a2 = await secretFiles("east", "a2");
    expect(verifies(envoy(a2))).toBe(false);
    // B's intermediate is on the root's CRL, and its own CRL has left the bundle: either way
    // the chain through it is refused.
    const r = spawnSync("openssl", ["verify", ...envoy(a2)], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toMatch(/certificate revoked|unable to get certificate CRL/);
    const inter = spawnSync("openssl", ["verify", "-crl_check", "-CAfile", join(a2, "root-cert.pem"), "-CRLfile", join(a2, "ca-crl.pem"), join(b, "ca-cert.pem")], { encoding: "utf8" });
    expect(inter.stdout + inter.stderr).toContain("certificate revoked");
    // Traffic from a healthy cluster keeps flowing under the same bundle.
    const c = await secretFiles("east", "a3", "");
    openssl(["x509", "-req", "-in", join(work, "leaf.csr"), "-CA", join(c, "ca-cert.pem"), "-CAkey", join(c, "ca-key.pem"), "-set_serial", "78", "-days", "1", "-extfile", join(work, "leaf.ext"), "-out", join(work, "leaf-a.pem")]);
    expect(verifies(["-crl_check_all", "-CAfile", join(a2, "root-cert.pem"), "-CRLfile", join(a2, "ca-crl.pem"), "-untrusted", join(c, "ca-cert.pem"), join(work, "leaf-a.pem")])).toBe(true);
  });

  it("an external-custody cluster without a CRL is left out of ca-crl.pem (named in a header; strict refuses) until it uploads one", async () => {
    const dir = join(work, "north");
    mkdirSync(dir);
    openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "ca-key.pem"), "-subj", "/CN=x", "-out", join(dir, "csr.pem")]);
    const issued = (await admin("POST", "/v1/clusters/north/intermediates", { csrPem: readFileSync(join(dir, "csr.pem"), "utf8") })).json();
    writeFileSync(join(dir, "ca-cert.pem"), issued.intermediate.certificatePem);
    const lenient = await admin("GET", "/v1/clusters/east/cacerts?crl=true");
    expect(lenient.status).toBe(200);
    expect(lenient.headers.get("meshroot-crl-missing")).toBe(issued.intermediate.serial);
    const blocked = await admin("GET", "/v1/clusters/east/cacerts?crl=strict");
    expect(blocked.status).toBe(409);
    expect(blocked.json().code).toBe("crl_incomplete");
    expect(blocked.json().errors[0].path).toBe(`intermediates.${issued.intermediate.serial}`);

    // The cluster signs its own (empty) CRL with openssl and uploads it as PEM.
    writeFileSync(join(dir, "index.txt"), "");
    writeFileSync(join(dir, "crlnumber"), "01\n");
    writeFileSync(join(dir, "ca.cnf"), `[ca]\ndefault_ca=d\n[d]\ndatabase=${dir}/index.txt\ncrlnumber=${dir}/crlnumber\ndefault_md=sha256\ndefault_crl_days=7\ncrl_extensions=ext\n[ext]\nauthorityKeyIdentifier=keyid\n`);
    openssl(["ca", "-config", join(dir, "ca.cnf"), "-gencrl", "-cert", join(dir, "ca-cert.pem"), "-keyfile", join(dir, "ca-key.pem"), "-out", join(dir, "crl.pem")]);
    const upload = await fetch(`${server.url}/v1/clusters/north/intermediates/${issued.intermediate.serial}/crl`, {
      method: "PUT",
      headers: { authorization: `Bearer ${readFileSync(join(dataDir, "admin.token"), "utf8").trim()}`, "content-type": "application/x-pem-file" },
      body: readFileSync(join(dir, "crl.pem")),
    });
    expect(upload.status, await upload.clone().text()).toBe(200);
    expect((await upload.json()).crlNumber).toBe(1);
    const a = await secretFiles("east", "a4");
    expect(readFileSync(join(a, "ca-crl.pem"), "utf8")).toContain(readFileSync(join(dir, "crl.pem"), "utf8").replace(/\n$/, "").split("\n")[1]);
  });

  it("50 concurrent issuances for one cluster: one shared Idempotency-Key gives one generation", async () => {
    const before = (await admin("GET", "/v1/clusters/east")).json().activeIntermediate.generation;
    const results = await Promise.all(Array.from({ length: 50 }, () => admin("POST", "/v1/clusters/east/intermediates", {}, { "idempotency-key": "storm-1" })));
    const serials = new Set(results.map((r) => r.json().intermediate.serial));
    expect(serials.size).toBe(1);
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 200)).toHaveLength(49);
    const list = (await admin("GET", "/v1/clusters/east/intermediates?limit=500")).json().items;
    expect(list[0].generation).toBe(before + 1);
  });

  it("50 concurrent issuances without keys: only 201s and 409s, dense unique generations, exactly one active", async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => admin("POST", "/v1/clusters/east/intermediates", {})));
    const statuses = new Set(results.map((r) => r.status));
    for (const s of statuses) expect([201, 409]).toContain(s);
    for (const r of results.filter((x) => x.status === 409)) expect(r.json().code).toBe("rotation_in_progress");
    const list = (await admin("GET", "/v1/clusters/east/intermediates?limit=500")).json().items as { generation: number; status: string }[];
    const generations = list.map((i) => i.generation).sort((x, y) => x - y);
    expect(generations).toEqual(generations.map((_, i) => i + 1));
    expect(list.filter((i) => i.status === "active")).toHaveLength(1);
    const created = results.filter((r) => r.status === 201).map((r) => r.json().intermediate.generation);
    expect(new Set(created).size).toBe(created.length);
  });

  it("meshroot rotate --due replaces a revoked cluster's intermediate and writes its Secret", async () => {
    const out = join(work, "rotated");
    const r = spawnSync(process.execPath, [CLI, "rotate", "--due", "--out", out], { env: { PATH: process.env.PATH, MESHROOT_DATA_DIR: dataDir }, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.rotated.map((x: { cluster: string }) => x.cluster)).toEqual(["west"]);
    expect(report.skipped).toEqual([]);
    expect(readdirSync(out)).toEqual(["west.yaml"]);
    const secret = parse(readFileSync(join(out, "west.yaml"), "utf8"));
    const dir = join(work, "west-rotated");
    mkdirSync(dir);
    for (const [k, v] of Object.entries(secret.data as Record<string, string>)) writeFileSync(join(dir, k), Buffer.from(v, "base64"));
    expect(verifies(["-x509_strict", "-CAfile", join(dir, "root-cert.pem"), "-untrusted", join(dir, "cert-chain.pem"), join(dir, "ca-cert.pem")])).toBe(true);
    // The server sees the CLI's rotation.
    expect((await admin("GET", "/v1/clusters/west")).json().status).toBe("active");
    expect((await admin("GET", "/v1/rotations/due")).json().items).toEqual([]);
  });

  it("decommission over HTTP revokes and refuses further issuance", async () => {
    const res = await admin("DELETE", "/v1/clusters/west");
    expect(res.status).toBe(200);
    expect(res.json().status).toBe("decommissioned");
    const again = await admin("POST", "/v1/clusters/west/intermediates", {});
    expect([again.status, again.json().code]).toEqual([409, "cluster_decommissioned"]);
  });
});

import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { openssl, tempDir } from "../helpers.js";
import { client, startServer, type Server } from "./server.js";

const TD = "mesh.example.com";
let server: Server;
let dataDir: string;
let work: string;

beforeAll(async () => {
  dataDir = join(tempDir(), "data");
  work = tempDir("meshroot-e2e-");
  server = await startServer({ MESHROOT_DATA_DIR: dataDir });
});

afterAll(async () => {
  await server?.stop();
});

function writeSecretFiles(dir: string, data: Record<string, string>) {
  for (const [k, v] of Object.entries(data)) writeFileSync(join(dir, k), Buffer.from(v, "base64"));
}

function pubkeyOfCert(file: string) {
  return openssl(["x509", "-in", file, "-noout", "-pubkey"]);
}
function pubkeyOfKey(file: string) {
  return openssl(["pkey", "-in", file, "-pubout"]);
}

describe("meshroot serve, end to end with openssl", () => {
  it("initialises ./data on first start: development master key and admin token, mode 0600", () => {
    expect(statSync(join(dataDir, "master.key")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDir, "admin.token")).mode & 0o777).toBe(0o600);
    expect(server.stderr()).toContain(join(dataDir, "admin.token"));
    expect(server.stderr()).toContain("DEVELOPMENT MODE");
    const token = readFileSync(join(dataDir, "admin.token"), "utf8").trim();
    expect(server.stderr()).not.toContain(token);
  });

  it("issues two clusters (escrowed and external) whose Secrets verify, and a workload of A verifies under B's bundle", async () => {
    const admin = client(server.url, readFileSync(join(dataDir, "admin.token"), "utf8").trim());
    expect((await admin("POST", "/v1/trust-domains", { name: TD, root: { organization: "Example Inc" } })).status).toBe(201);
    const prov = await admin("POST", "/v1/tokens", { name: "pipeline", role: "provisioner", clusters: ["east", "west"], trustDomains: [TD] });
    expect(prov.status).toBe(201);
    const api = client(server.url, prov.json().token);

    // Cluster A (east): escrowed key; the pipeline takes the Secret manifest.
    expect((await api("POST", "/v1/clusters", { name: "east", trustDomain: TD })).status).toBe(201);
    expect((await api("POST", "/v1/clusters/east/intermediates", {}, { "idempotency-key": "east-1" })).status).toBe(201);
    const manifest = await api("GET", "/v1/clusters/east/cacerts");
    expect(manifest.status).toBe(200);
    const east = join(work, "east");
    await import("node:fs").then((fs) => fs.mkdirSync(east));
    const secret = parse(manifest.text);
    expect(secret.kind).toBe("Secret");
    writeSecretFiles(east, secret.data);
    expect(openssl(["verify", "-x509_strict", "-CAfile", join(east, "root-cert.pem"), "-untrusted", join(east, "cert-chain.pem"), join(east, "ca-cert.pem")])).toContain(": OK");
    expect(pubkeyOfKey(join(east, "ca-key.pem"))).toBe(pubkeyOfCert(join(east, "ca-cert.pem")));

    // Cluster B (west): external key; the CSR comes from openssl, the key never leaves this directory.
    const west = join(work, "west");
    await import("node:fs").then((fs) => fs.mkdirSync(west));
    openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(west, "ca-key.pem"), "-subj", "/CN=ignored by meshroot", "-out", join(west, "csr.pem")]);
    expect((await api("POST", "/v1/clusters", { name: "west", trustDomain: TD })).status).toBe(201);
    const issued = await api("POST", "/v1/clusters/west/intermediates", { csrPem: readFileSync(join(west, "csr.pem"), "utf8") });
    expect(issued.status).toBe(201);
    const files = issued.json().cacerts as Record<string, string>;
    expect(files["ca-key.pem"]).toBeUndefined();
    for (const [k, v] of Object.entries(files)) writeFileSync(join(west, k), v);
    expect(openssl(["verify", "-x509_strict", "-CAfile", join(west, "root-cert.pem"), "-untrusted", join(west, "cert-chain.pem"), join(west, "ca-cert.pem")])).toContain(": OK");
    expect(pubkeyOfKey(join(west, "ca-key.pem"))).toBe(pubkeyOfCert(join(west, "ca-cert.pem")));
    const external = await api("GET", "/v1/clusters/west/cacerts");
    expect(external.status).toBe(409);
    expect(external.json().code).toBe("external_custody");
    expect(readFileSync(join(west, "ca-cert.pem"), "utf8")).toContain("BEGIN CERTIFICATE");
    expect(openssl(["x509", "-in", join(west, "ca-cert.pem"), "-noout", "-subject"])).toContain("L = west");

    // One trust domain: a workload certificate signed by east's intermediate verifies with west's bundle.
    const spiffe = `spiffe://${TD}/ns/default/sa/demo`;
    writeFileSync(
      join(work, "leaf.ext"),
      [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage=serverAuth,clientAuth",
        `subjectAltName=critical,URI:${spiffe}`,
        "subjectKeyIdentifier=hash",
        "authorityKeyIdentifier=keyid",
      ].join("\n"),
    );
    openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(work, "leaf.key"), "-subj", "/O=demo", "-out", join(work, "leaf.csr")]);
    openssl(["x509", "-req", "-in", join(work, "leaf.csr"), "-CA", join(east, "ca-cert.pem"), "-CAkey", join(east, "ca-key.pem"), "-set_serial", "0x1234", "-days", "1", "-extfile", join(work, "leaf.ext"), "-out", join(work, "leaf.pem")]);
    expect(openssl(["x509", "-in", join(work, "leaf.pem"), "-noout", "-ext", "subjectAltName"])).toContain(spiffe);
    const verdict = openssl(["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", join(west, "root-cert.pem"), "-untrusted", join(east, "ca-cert.pem"), join(work, "leaf.pem")]);
    expect(verdict).toContain(": OK");
    // And the same workload does not verify against a foreign root.
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(work, "other.key"), "-subj", "/CN=other", "-days", "1", "-out", join(work, "other.pem")]);
    expect(() => openssl(["verify", "-CAfile", join(work, "other.pem"), "-untrusted", join(east, "ca-cert.pem"), join(work, "leaf.pem")])).toThrow();

    // The public bundle is the same trust bundle the Secrets carry.
    const bundle = await client(server.url)("GET", `/v1/trust-domains/${TD}/bundle`);
    expect(bundle.text).toBe(readFileSync(join(west, "root-cert.pem"), "utf8"));
  });

  it("drains and exits cleanly on SIGTERM, and restarts on the same data without a new admin token", async () => {
    expect(await server.stop("SIGTERM")).toBe(0);
    const token = readFileSync(join(dataDir, "admin.token"), "utf8");
    server = await startServer({ MESHROOT_DATA_DIR: dataDir });
    expect(server.stderr()).not.toContain("created the bootstrap admin token");
    expect(readFileSync(join(dataDir, "admin.token"), "utf8")).toBe(token);
    const admin = client(server.url, token.trim());
    const clusters = (await admin("GET", "/v1/clusters")).json();
    expect(clusters.items.map((c: { name: string; status: string }) => [c.name, c.status])).toEqual([
      ["east", "active"],
      ["west", "active"],
    ]);
    // The escrowed key decrypts after a restart: the Secret still has it.
    const secret = parse((await admin("GET", "/v1/clusters/east/cacerts")).text);
    expect(Buffer.from(secret.data["ca-key.pem"], "base64").toString()).toContain("BEGIN PRIVATE KEY");
    expect((await client(server.url)("GET", "/readyz")).json()).toEqual({ ready: true, checks: { database: true, migrations: true, masterKey: true } });
  });
});

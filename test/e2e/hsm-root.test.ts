import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { dropToken, skipSofthsm, softToken, type SoftToken } from "../keys/softhsm.js";
import { openssl, tempDir } from "../helpers.js";
import { CLI, client, startServer, type Server } from "./server.js";

/**
 * The real `meshroot serve` with its root keys in a SoftHSM2 token: what it emits checked with
 * openssl as for software roots, what the database holds, and the failure modes (start refused
 * naming the setting; the token taken away while running, by moving its folder aside).
 */
const TD = "hsm.example.com";

describe.skipIf(skipSofthsm)("root keys in an HSM, end to end (SoftHSM2)", () => {
  let soft: SoftToken;
  let server: Server;
  let dataDir: string;
  let work: string;
  let pinFile: string;
  let env: Record<string, string>;
  let admin: ReturnType<typeof client>;

  beforeAll(async () => {
    soft = softToken("meshroot-e2e");
    work = tempDir("meshroot-hsm-e2e-");
    dataDir = join(work, "data");
    pinFile = join(work, "pin");
    writeFileSync(pinFile, `${soft.pin}\n`, { mode: 0o600 });
    env = {
      ...soft.env,
      MESHROOT_PKCS11_MODULE: soft.module,
      MESHROOT_PKCS11_TOKEN: soft.label,
      MESHROOT_PKCS11_PIN_FILE: pinFile,
      MESHROOT_PUBLIC_URL: "https://meshroot.example.com",
      MESHROOT_MAX_ISSUANCES_PER_CLUSTER_PER_DAY: "1000",
    };
    server = await startServer({ ...env, MESHROOT_DATA_DIR: dataDir, MESHROOT_LOG_LEVEL: "info" });
    admin = client(server.url, readFileSync(join(dataDir, "admin.token"), "utf8").trim());
  });

  afterAll(async () => {
    await server?.stop();
    dropToken(soft);
  });

  /** Fetches a cluster's Secret (with ca-crl.pem) into work/<dir>. */
  async function secretFiles(cluster: string, dir: string): Promise<string> {
    const res = await admin("GET", `/v1/clusters/${cluster}/cacerts?crl=true`);
    expect(res.status, res.text).toBe(200);
    const path = join(work, dir);
    mkdirSync(path, { recursive: true });
    for (const [k, v] of Object.entries(parse(res.text).data as Record<string, string>)) writeFileSync(join(path, k), Buffer.from(v, "base64"));
    return path;
  }

  function verifies(args: string[]): boolean {
    const r = spawnSync("openssl", ["verify", ...args], { encoding: "utf8" });
    return r.status === 0 && r.stdout.includes(": OK");
  }

  it("generates the root in the token; intermediates (escrowed and CSR-mode), the root CRL and the cacerts Secret pass openssl's and Istio's checks", async () => {
    const created = await admin("POST", "/v1/trust-domains", { name: TD, root: { keyStorage: "pkcs11", keyAlgorithm: "ecdsa-p256" } });
    expect(created.status, created.text).toBe(201);
    expect((await admin("POST", "/v1/trust-domains", { name: "soft.example.com" })).status).toBe(201);
    for (const name of ["east", "west"]) expect((await admin("POST", "/v1/clusters", { name, trustDomain: TD })).status).toBe(201);
    expect((await admin("POST", "/v1/clusters/east/intermediates", {})).status).toBe(201);
    const a = await secretFiles("east", "east");
    expect(verifies(["-x509_strict", "-CAfile", join(a, "root-cert.pem"), "-untrusted", join(a, "cert-chain.pem"), join(a, "ca-cert.pem")])).toBe(true);
    // ca-key.pem is ca-cert.pem's key.
    const pub = (f: string, ...how: string[]) => openssl([...how, "-in", f, "-pubkey", "-noout"].filter(Boolean));
    expect(openssl(["pkey", "-in", join(a, "ca-key.pem"), "-pubout"])).toBe(pub(join(a, "ca-cert.pem"), "x509"));
    // istiod's own check: a CRL for every certificate of its cert-chain.pem.
    expect(verifies(["-crl_check_all", "-CAfile", join(a, "root-cert.pem"), "-CRLfile", join(a, "ca-crl.pem"), join(a, "cert-chain.pem")])).toBe(true);
    // A workload certificate as istiod signs it, as an Envoy of the mesh checks it.
    writeFileSync(join(work, "leaf.ext"), `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=critical,URI:spiffe://${TD}/ns/default/sa/a\nauthorityKeyIdentifier=keyid\n`);
    openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(work, "leaf.key"), "-subj", "/O=a", "-out", join(work, "leaf.csr")]);
    openssl(["x509", "-req", "-in", join(work, "leaf.csr"), "-CA", join(a, "ca-cert.pem"), "-CAkey", join(a, "ca-key.pem"), "-set_serial", "7", "-days", "1", "-extfile", join(work, "leaf.ext"), "-out", join(work, "leaf.pem")]);
    expect(verifies(["-x509_strict", "-crl_check_all", "-CAfile", join(a, "root-cert.pem"), "-CRLfile", join(a, "ca-crl.pem"), "-untrusted", join(a, "ca-cert.pem"), join(work, "leaf.pem")])).toBe(true);
    // The root CRL, signed in the token.
    const crl = await fetch(`${server.url}/v1/trust-domains/${TD}/crl?format=pem`);
    writeFileSync(join(work, "root-crl.pem"), await crl.text());
    const checked = spawnSync("openssl", ["crl", "-in", join(work, "root-crl.pem"), "-CAfile", join(a, "root-cert.pem"), "-noout"], { encoding: "utf8" });
    expect(checked.status).toBe(0);
    expect(checked.stderr).toContain("verify OK");
    // CSR mode: the cluster keeps its key; the root signs in the token.
    openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(work, "west.key"), "-subj", "/CN=west", "-out", join(work, "west.csr")]);
    const csrIssued = await admin("POST", "/v1/clusters/west/intermediates", { csrPem: readFileSync(join(work, "west.csr"), "utf8") });
    expect(csrIssued.status, csrIssued.text).toBe(201);
    writeFileSync(join(work, "west.pem"), csrIssued.json().intermediate.certificatePem);
    expect(verifies(["-x509_strict", "-CAfile", join(a, "root-cert.pem"), join(work, "west.pem")])).toBe(true);
  });

  it("keeps the root key in the token, not extractable, and only its pkcs11: URI in the database, WAL and logs", async () => {
    const { roots } = (await admin("GET", `/v1/trust-domains/${TD}`)).json() as { roots: { serial: string }[] };
    const serial = roots[0]!.serial;
    const listing = soft.tool(["--list-objects", "--type", "privkey"]);
    const ours = listing.slice(listing.indexOf(`meshroot-root-${serial}`));
    expect(ours).toMatch(new RegExp(`^meshroot-root-${serial}\\s+ID:\\s+${serial}\\s+Usage:\\s+sign\\s+Access:\\s+sensitive, always sensitive, never extractable, local`));
    const db = new Database(join(dataDir, "meshroot.db"), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare("SELECT trust_domain AS td, key_ref AS ref FROM roots ORDER BY trust_domain").all() as { td: string; ref: string }[];
      const hsmRow = rows.find((r) => r.td === TD)!;
      expect(hsmRow.ref).toBe(`pkcs11:token=meshroot-e2e;id=${serial.match(/../g)!.map((b) => `%${b}`).join("")};object=meshroot-root-${serial};type=private`);
      expect(rows.find((r) => r.td === "soft.example.com")!.ref).toMatch(/^sealed:root:/);
      const row = db.prepare("SELECT * FROM roots WHERE trust_domain = ?").get(TD) as Record<string, unknown>;
      for (const [column, value] of Object.entries(row)) {
        const bytes = Buffer.isBuffer(value) ? value : Buffer.from(String(value ?? ""));
        expect(bytes.includes(PKCS8_EC), column).toBe(false);
        expect(bytes.toString("latin1"), column).not.toMatch(/PRIVATE KEY/);
      }
    } finally {
      db.close();
    }
    // No plaintext private key structure anywhere in the database files (intermediate keys are sealed too) or the log.
    const files = readdirSync(dataDir).filter((f) => f.startsWith("meshroot.db"));
    expect(files).toContain("meshroot.db");
    for (const f of files) {
      const bytes = readFileSync(join(dataDir, f));
      expect(bytes.includes(PKCS8_EC), f).toBe(false);
      expect(bytes.includes(SEC1_EC_P256), f).toBe(false);
      expect(bytes.toString("latin1"), f).not.toMatch(/PRIVATE KEY/);
    }
    expect(server.stderr() + server.stdout()).not.toMatch(/PRIVATE KEY/);
    expect(server.stderr() + server.stdout()).not.toContain(soft.pin);
  });

  it("answers 503 hsm_unavailable while the token is gone, writes nothing, and issues again once it is back", async () => {
    const before = (await admin("GET", "/v1/clusters/east/intermediates")).json().items.length;
    soft.remove();
    try {
      const refused = await admin("POST", "/v1/clusters/east/intermediates", {});
      expect([refused.status, refused.json().code], refused.text).toEqual([503, "hsm_unavailable"]);
      expect(refused.json().detail).toContain("meshroot-e2e");
      const crl = await admin("POST", `/v1/trust-domains/${TD}/root-rotation`, { root: { keyStorage: "pkcs11" } });
      expect([crl.status, crl.json().code]).toEqual([503, "hsm_unavailable"]);
      // A software root is not held up by the HSM.
      expect((await admin("POST", "/v1/clusters", { name: "soft-east", trustDomain: "soft.example.com" })).status).toBe(201);
      expect((await admin("POST", "/v1/clusters/soft-east/intermediates", {})).status).toBe(201);
    } finally {
      soft.restore();
    }
    expect((await admin("GET", "/v1/clusters/east/intermediates")).json().items.length).toBe(before);
    const again = await admin("POST", "/v1/clusters/east/intermediates", {});
    expect(again.status, again.text).toBe(201);
  });

  it("refuses to start, naming the setting, with a wrong PIN, a missing module or an absent token; nothing is written", () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ MESHROOT_PKCS11_PIN_FILE: writePin("0000-wrong") }, /MESHROOT_PKCS11_PIN_FILE .* was refused by token "meshroot-e2e" \(CKR_PIN_INCORRECT\)/],
      [{ MESHROOT_PKCS11_MODULE: "/usr/lib/nothing/libnone.so" }, /MESHROOT_PKCS11_MODULE \/usr\/lib\/nothing\/libnone\.so cannot be loaded/],
      [{ MESHROOT_PKCS11_TOKEN: "absent" }, /no token labelled "absent" \(MESHROOT_PKCS11_TOKEN\)/],
    ];
    for (const [override, message] of cases) {
      const fresh = join(tempDir(), "data");
      const r = spawnSync(process.execPath, [CLI, "serve"], { env: { PATH: process.env.PATH, ...env, MESHROOT_DATA_DIR: fresh, MESHROOT_PORT: "0", ...override }, encoding: "utf8", timeout: 20_000 });
      expect(r.status, r.stderr).not.toBe(0);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toContain("0000-wrong");
      expect(existsSync(join(fresh, "meshroot.db")), JSON.stringify(override)).toBe(false);
      expect(existsSync(join(fresh, "master.key"))).toBe(false);
    }
  });

  it("answers key_unavailable (503) when the root's key object is gone from the token", async () => {
    expect((await admin("POST", "/v1/trust-domains", { name: "doomed.example.com", root: { keyStorage: "pkcs11" } })).status).toBe(201);
    expect((await admin("POST", "/v1/clusters", { name: "doomed", trustDomain: "doomed.example.com" })).status).toBe(201);
    expect((await admin("POST", "/v1/clusters/doomed/intermediates", {})).status).toBe(201);
    const serial = (await admin("GET", "/v1/trust-domains/doomed.example.com")).json().roots[0].serial as string;
    soft.tool(["--delete-object", "--type", "privkey", "--id", serial]);
    const res = await admin("POST", "/v1/clusters/doomed/intermediates", {});
    expect([res.status, res.json().code], res.text).toEqual([503, "key_unavailable"]);
    expect(res.json().detail).toContain(`meshroot-root-${serial}`);
    // The other HSM root is unaffected.
    expect((await admin("POST", "/v1/clusters/east/intermediates", {})).status).toBe(201);
  });

  function writePin(pin: string): string {
    const f = join(tempDir(), "pin");
    writeFileSync(f, `${pin}\n`, { mode: 0o600 });
    return f;
  }
});

/** The start of a PKCS#8 EC private key (version 0, id-ecPublicKey): what a leaked key would begin with. */
const PKCS8_EC = Buffer.from("020100301306072a8648ce3d0201", "hex");
/** The start of a SEC 1 P-256 ECPrivateKey (version 1, a 32-byte private key). */
const SEC1_EC_P256 = Buffer.from("0201010420", "hex");

import Database from "better-sqlite3";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

/**
 * A same-run peer for CSR-mode issuance: cfssl (Debian's golang-cfssl) `serve` signing CSRs
 * under an ECDSA P-256 CA with its SQLite certificate database (WAL, every certificate committed
 * before the answer, as meshroot commits its row and audit event). Undefined when cfssl is not
 * installed.
 */

export interface LoadRun {
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

type Load = (url: string, token: string, opts: { connections: number; duration: number; method?: "GET" | "POST"; paths: (i: number) => string; body?: string }) => Promise<LoadRun>;

// cfssl's certdb schema for SQLite (certdb/sqlite/migrations of the packaged version).
const SCHEMA = `
CREATE TABLE certificates (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL, ca_label blob, status blob NOT NULL,
  reason int, expiry timestamp, revoked_at timestamp, pem blob NOT NULL, PRIMARY KEY(serial_number, authority_key_identifier));
CREATE TABLE ocsp_responses (serial_number blob NOT NULL, authority_key_identifier blob NOT NULL, body blob NOT NULL, expiry timestamp,
  PRIMARY KEY(serial_number, authority_key_identifier), FOREIGN KEY(serial_number, authority_key_identifier) REFERENCES certificates(serial_number, authority_key_identifier));`;

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export async function cfsslCsrRun(dir: string, csrPem: string, duration: number, load: Load): Promise<(LoadRun & { certificates: number; version: string }) | undefined> {
  const version = spawnSync("cfssl", ["version"], { encoding: "utf8" });
  if (version.error || version.status !== 0) return undefined;
  const work = join(dir, "cfssl");
  mkdirSync(work, { recursive: true });
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(work, "ca-key.pem"), "-out", join(work, "ca.pem"),
    "-subj", "/O=bench/CN=cfssl root", "-days", "3650", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], { stdio: "pipe" });
  // Intermediates, as meshroot issues them: CA certificates with path length 0.
  writeFileSync(join(work, "config.json"), JSON.stringify({ signing: { default: { expiry: "8760h", usages: ["cert sign", "crl sign"], ca_constraint: { is_ca: true, max_path_len: 0, max_path_len_zero: true } } } }));
  const dbFile = join(work, "certs.db");
  const db = new Database(dbFile);
  db.pragma("journal_mode = WAL");
  db.exec(SCHEMA);
  db.close();
  writeFileSync(join(work, "db.json"), JSON.stringify({ driver: "sqlite3", data_source: dbFile }));
  const port = await freePort();
  const proc = spawn("cfssl", ["serve", "-address", "127.0.0.1", "-port", String(port), "-ca", join(work, "ca.pem"), "-ca-key", join(work, "ca-key.pem"),
    "-config", join(work, "config.json"), "-db-config", join(work, "db.json"), "-loglevel", "4"], { stdio: "ignore" });
  try {
    const url = `http://127.0.0.1:${port}`;
    const body = JSON.stringify({ certificate_request: csrPem });
    for (let i = 0; ; i++) {
      const ok = await fetch(`${url}/api/v1/cfssl/sign`, { method: "POST", body }).then((r) => r.ok, () => false);
      if (ok) break;
      if (i > 200) throw new Error("cfssl serve did not answer");
      await new Promise((r) => setTimeout(r, 25));
    }
    const run = await load(url, "", { connections: 16, duration, method: "POST", paths: () => "/api/v1/cfssl/sign", body });
    const check = new Database(dbFile, { readonly: true });
    const certificates = (check.prepare("SELECT COUNT(*) AS n FROM certificates").get() as { n: number }).n;
    check.close();
    return { ...run, certificates, version: version.stdout.split("\n")[0]!.replace(/^Version:\s*/, "") };
  } finally {
    proc.kill("SIGTERM");
  }
}

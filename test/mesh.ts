import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Cross-cluster checks with a second implementation: a cluster's Secret files on disk with a
 * workload certificate signed the way istiod signs one, and openssl deciding, as Envoy does with
 * CRLs loaded, whether a peer that loaded other files accepts it.
 */

const work = mkdtempSync(join(tmpdir(), "meshroot-mesh-"));
let dirs = 0;

/** Writes a Secret's files (ca-key.pem needed) and a workload certificate signed with its key; returns the folder. */
export function onDisk(files: Record<string, string | undefined>): string {
  const dir = join(work, `s${++dirs}`);
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) if (text !== undefined) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, "leaf.ext"), "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=critical,URI:spiffe://cluster.local/ns/default/sa/x\nauthorityKeyIdentifier=keyid\n");
  const ssl = (args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  ssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "leaf.key"), "-subj", "/O=w", "-out", join(dir, "leaf.csr")]);
  ssl(["x509", "-req", "-in", join(dir, "leaf.csr"), "-CA", join(dir, "ca-cert.pem"), "-CAkey", join(dir, "ca-key.pem"), "-set_serial", "7", "-days", "2", "-extfile", join(dir, "leaf.ext"), "-out", join(dir, "leaf.pem")]);
  return dir;
}

/** openssl's verdict on `from`'s workload by a peer that loaded `to`'s files: "OK" or its error line. */
export function verdict(now: Date, to: string, from: string): string {
  const at = String(Math.floor(now.getTime() / 1000) + 120);
  const r = spawnSync("openssl", ["verify", "-attime", at, "-x509_strict", "-crl_check_all", "-CAfile", join(to, "root-cert.pem"), "-CRLfile", join(to, "ca-crl.pem"), "-untrusted", join(from, "ca-cert.pem"), join(from, "leaf.pem")], { encoding: "utf8" });
  return r.status === 0 ? "OK" : (r.stderr || r.stdout).split("\n").find((l) => /error/.test(l)) ?? `exit ${r.status}`;
}

/** Whether a workload of `from` is accepted by a peer that loaded `to`'s Secret (Envoy's check, with CRLs). */
export function accepts(now: Date, to: string, from: string): boolean {
  return verdict(now, to, from) === "OK";
}

/** Every cluster's workload against every cluster's files, both ways: the refusals. */
export function meshFailures(now: Date, dirsByCluster: Record<string, string>): string[] {
  const names = Object.keys(dirsByCluster);
  const failures: string[] = [];
  for (const a of names) for (const b of names) if (!accepts(now, dirsByCluster[a]!, dirsByCluster[b]!)) failures.push(`${a} refuses ${b}`);
  return failures;
}

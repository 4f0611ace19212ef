import * as x509 from "@peculiar/x509";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pkcs11RootKeys } from "../src/keys/pkcs11-root-keys.js";
import { openPkcs11Token } from "../src/keys/pkcs11-token.js";
import { keyGenParams, signingAlgorithm } from "../src/x509/key-algorithms.js";

/**
 * CSR-mode issuance with a root key in SoftHSM2 beside one with a software (sealed) root, same
 * server, same run; and where the time goes: the root's signature through the token (one
 * logged-in session, one operation at a time) against the same signature in WebCrypto.
 */
export interface HsmBenchDeps {
  workDir(): { dir: string; env: Record<string, string> };
  startServer(env: Record<string, string>): Promise<{ url: string; stop(): Promise<void> }>;
  load(url: string, token: string, opts: { connections: number; duration: number; method?: "GET" | "POST"; paths: (i: number) => string; body?: string }): Promise<{ rps: number; p50: number; p99: number; non2xx: number; errors: number }>;
  rate(op: () => Promise<unknown>, ms: number, concurrency?: number): Promise<number>;
  record(r: { figure: string; value: string; target: string; baseline: string; ratio: string; pass: boolean | null }): void;
  fmt(n: number, d?: number): string;
  duration: number;
}

const MODULES = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so", "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"];
const CLUSTERS = 1000;

export async function hsmFigures(d: HsmBenchDeps): Promise<void> {
  const module = MODULES.find((m) => existsSync(m));
  if (!module) {
    d.record({ figure: "CSR issuance under a SoftHSM2 root", value: "not measured: SoftHSM2 is not installed (apt-get install softhsm2)", target: "—", baseline: "—", ratio: "—", pass: null });
    return;
  }
  // A token of its own, in a folder of its own.
  const folder = mkdtempSync(join(tmpdir(), "meshroot-bench-hsm-"));
  mkdirSync(join(folder, "tokens"));
  const conf = join(folder, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${join(folder, "tokens")}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env.SOFTHSM2_CONF = conf;
  execFileSync("softhsm2-util", ["--init-token", "--free", "--label", "bench", "--so-pin", "87654321", "--pin", "123456"], { stdio: "ignore" });
  writeFileSync(join(folder, "pin"), "123456\n", { mode: 0o600 });

  const w = d.workDir();
  const env = { ...w.env, SOFTHSM2_CONF: conf, MESHROOT_PKCS11_MODULE: module, MESHROOT_PKCS11_TOKEN: "bench", MESHROOT_PKCS11_PIN_FILE: join(folder, "pin") };
  const server = await d.startServer(env);
  const token = w.env.MESHROOT_ADMIN_TOKEN!;
  const post = async (path: string, body: unknown) => {
    const r = await fetch(`${server.url}${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    if (r.status !== 201) throw new Error(`POST ${path}: ${r.status} ${(await r.text()).slice(0, 300)}`);
  };
  await post("/v1/trust-domains", { name: "soft.example" });
  await post("/v1/trust-domains", { name: "hsm.example", root: { keyStorage: "pkcs11", keyAlgorithm: "ecdsa-p256" } });
  for (let c = 0; c < CLUSTERS; c += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, k) => [post("/v1/clusters", { name: `s${c + k}`, trustDomain: "soft.example" }), post("/v1/clusters", { name: `h${c + k}`, trustDomain: "hsm.example" })]).flat(),
    );
  }
  const keys = (await crypto.subtle.generateKey(keyGenParams("ecdsa-p256"), true, ["sign", "verify"])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: "CN=bench", keys, signingAlgorithm: signingAlgorithm("ecdsa-p256") });
  const body = JSON.stringify({ csrPem: csr.toString("pem") });
  // Software, HSM, software again: the baseline is the mean of the two around it (a loaded machine drifts).
  const run = (prefix: string) => d.load(server.url, token, { connections: 16, duration: d.duration, method: "POST", paths: (i) => `/v1/clusters/${prefix}${i % CLUSTERS}/intermediates`, body });
  const before = await run("s");
  const hsm = await run("h");
  const after = await run("s");
  await server.stop();
  const soft = { rps: (before.rps + after.rps) / 2, p50: (before.p50 + after.p50) / 2, p99: Math.max(before.p99, after.p99), non2xx: before.non2xx + after.non2xx, errors: before.errors + after.errors };

  // Where the time goes: the root's one signature per issuance, in WebCrypto and through the token.
  const tbs = new Uint8Array(600); // about an intermediate's TBSCertificate
  const webcrypto = await d.rate(() => crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keys.privateKey, tbs), 3000);
  const p11 = openPkcs11Token({ module, token: "bench", pin: "123456" });
  const signer = (await pkcs11RootKeys(p11).generate("ecdsa-p256")).signer;
  const tokenRate = await d.rate(() => signer.sign(tbs), 3000);
  const one: number[] = [];
  for (let i = 0; i < 500; i++) {
    const t = performance.now();
    await signer.sign(tbs);
    one.push(performance.now() - t);
  }
  one.sort((a, b) => a - b);
  p11.close();

  const ok = (r: { non2xx: number; errors: number }) => r.non2xx === 0 && r.errors === 0;
  const failed = (r: { non2xx: number; errors: number }) => (ok(r) ? "" : `; FAILED REQUESTS: ${r.non2xx} non-2xx, ${r.errors} errors`);
  d.record({
    figure: "CSR issuance ecdsa-p256 under a SoftHSM2 root, 16 clients",
    value: `${d.fmt(hsm.rps)}/s (p50 ${hsm.p50} ms, p99 ${hsm.p99} ms)${failed(hsm)}`,
    target: "—",
    baseline: `software root, same server: ${d.fmt(soft.rps)}/s (p50 ${soft.p50} ms, p99 ${soft.p99} ms)${failed(soft)}`,
    ratio: `${d.fmt((hsm.rps / soft.rps) * 100, 1)}% of software`,
    pass: ok(hsm) && ok(soft) ? null : false,
  });
  d.record({
    figure: "the root's signature: through the token (one session, serialised) vs WebCrypto, 16 in flight",
    value: `token ${d.fmt(tokenRate)}/s (one signature p50 ${d.fmt(one[one.length >> 1]!, 3)} ms, p99 ${d.fmt(one[Math.floor(one.length * 0.99)]!, 3)} ms); the HSM root costs ${d.fmt(1000 / hsm.rps - 1000 / soft.rps, 2)} ms of server time per issuance`,
    target: "—",
    baseline: `WebCrypto ${d.fmt(webcrypto)}/s`,
    ratio: `${d.fmt(tokenRate / webcrypto, 2)}×`,
    pass: null,
  });
}

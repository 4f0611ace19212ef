import { systemContext } from "../src/core/audit.js";
import type { Core } from "../src/core/core.js";
import type { Db } from "../src/store/sqlite/database.js";
import { seedIntermediates } from "./seed.js";

const CTX = systemContext("bench");
export const FLEET_CLUSTERS = 500;
export const FLEET_INTERMEDIATES = 5_000;

/**
 * The fleet view's scale from issue 10: 500 clusters, 5,000 intermediates (4,500 seeded older
 * generations, then a real active one per cluster). Seeded in-process before the server starts.
 */
export async function seedFleet(db: Db, core: Core, trustDomain: string): Promise<void> {
  await core.trustDomains.create({ name: trustDomain }, CTX);
  await seedIntermediates(db, core, trustDomain, FLEET_CLUSTERS, FLEET_INTERMEDIATES - FLEET_CLUSTERS);
  for (let c = 0; c < FLEET_CLUSTERS; c++) {
    await core.clusters.update(`s${c}`, { labels: { env: c % 3 === 0 ? "prod" : "staging", region: c % 2 === 0 ? "eu" : "us" } }, CTX);
    if (c !== 0) await core.issuance.issue(`s${c}`, {}, CTX);
  }
  await core.issuance.issue("s0", {}, CTX);
}

/**
 * Every cluster reports over HTTP, as a CronJob would: nine in ten the files they were given
 * (converged), one in ten signing with a peer's intermediate (drift), and one in ten of those
 * also a ca-crl.pem holding only the root's CRL (thousands of issuers missing).
 */
export async function observeFleet(url: string, token: string, trustDomain: string): Promise<void> {
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  const get = async (path: string) => {
    const r = await fetch(`${url}${path}`, { headers });
    if (!r.ok) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
    return r;
  };
  const bundle = await (await get(`/v1/trust-domains/${trustDomain}/bundle`)).text();
  const rootCrl = await (await get(`/v1/trust-domains/${trustDomain}/crl?format=pem`)).text();
  const active = new Map<string, string>();
  for (let cursor: string | null = ""; cursor !== null; ) {
    const page = (await (await get(`/v1/certificates?trustDomain=${trustDomain}&status=active&limit=500${cursor ? `&cursor=${cursor}` : ""}`)).json()) as {
      items: { cluster: string; certificatePem?: string; serial: string }[];
      nextCursor: string | null;
    };
    for (const i of page.items) active.set(i.cluster, i.certificatePem!);
    cursor = page.nextCursor;
  }
  const peer = active.get("s1")!;
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      for (let c = w; c < FLEET_CLUSTERS; c += 8) {
        const drift = c % 10 === 5;
        const body = {
          rootCertPem: bundle,
          caCertPem: drift ? peer : active.get(`s${c}`)!,
          ...(c % 100 === 5 ? { crlPem: rootCrl } : {}),
          istioVersion: "1.28.1",
          multiRoot: true,
        };
        const r = await fetch(`${url}/v1/clusters/s${c}/observation`, { method: "PUT", headers, body: JSON.stringify(body) });
        // Read every answer: an unread body keeps its connection busy, and the server caps connections per address (128).
        const text = await r.text();
        if (!r.ok) throw new Error(`PUT observation s${c}: ${r.status} ${text}`);
      }
    }),
  );
}

/**
 * ca-crl.pem after one rotation of every cluster (escrowed P-256), at `clusters` clusters: as
 * served without reports (every superseded intermediate's CRL stays until it expires), then once
 * every cluster was reported signing with its new intermediate more than a workload lifetime ago
 * (written straight into the database, as observations would).
 */
export async function crlSizeAfterRotation(db: Db, core: Core, clusters: number): Promise<{ before: { bytes: number; crls: number }; after: { bytes: number; crls: number } }> {
  const td = `crl${clusters}.example`;
  await core.trustDomains.create({ name: td }, CTX);
  for (let c = 0; c < clusters; c++) {
    await core.clusters.register({ name: `${td.split(".")[0]}-${c}`, trustDomain: td }, CTX);
    await core.issuance.issue(`${td.split(".")[0]}-${c}`, {}, CTX);
    await core.issuance.issue(`${td.split(".")[0]}-${c}`, {}, CTX);
  }
  const measure = async () => {
    const pem = (await core.revocation.caCrlBundle(td)).pem;
    return { bytes: Buffer.byteLength(pem), crls: (pem.match(/BEGIN X509 CRL/g) ?? []).length };
  };
  const before = await measure();
  db.prepare("UPDATE intermediates SET signing_seen_at = ? WHERE trust_domain = ? AND status = 'active'").run(Date.now() - 25 * 3_600_000, td);
  return { before, after: await measure() };
}

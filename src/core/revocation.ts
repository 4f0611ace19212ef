import * as x509 from "@peculiar/x509";
import type { Clock } from "../clock.js";
import { DomainError, isDomainError } from "../errors.js";
import { auditInput, type AuditContext } from "./audit.js";
import { signCrlDer, verifyUploadedCrl, type CrlEntry, type RevocationReason, type SignedCrl } from "../x509/crl.js";
import { toPem } from "../x509/pem.js";
import { BACKDATE_MS } from "./issuance.js";
import type { IssuerCache } from "./issuers.js";
import type { ClusterRecord, CrlRecord, IntermediateRecord, Observer, RootRecord, Store } from "./ports.js";
import { caCrlIssuers, DEFAULT_WORKLOAD_CERT_TTL_MS } from "./ca-crl-issuers.js";

export const DEFAULT_CRL_VALIDITY_MS = 7 * 86_400_000;
/** Attempts at a CRL number before crl_conflict: enough for replicas revoking in the same trust domain at once (with the pauses of withRetry, a few seconds at most). */
const MAX_ATTEMPTS = 16;

type Deps = {
  store: Pick<
    Store,
    | "getCluster"
    | "listRoots"
    | "getIntermediate"
    | "getActiveIntermediate"
    | "getLatestCrl"
    | "insertCrl"
    | "latestCrls"
    | "insertCrls"
    | "revokeIntermediate"
    | "decommissionCluster"
    | "listRevokedByRoot"
    | "listLiveIntermediates"
    | "listIntermediatesNeedingCrl"
    | "listTrustDomains"
    | "latestRootRotation"
  >;
  issuers: IssuerCache;
  crypto: Crypto;
  clock: Clock;
  observer: Pick<Observer, "revocation" | "crlChanged">;
  /** How long a CRL meshroot signs is valid (nextUpdate - thisUpdate); re-signed at half of it. */
  crlValidityMs?: number | undefined;
  /** How long workload certificates live: when a superseded intermediate's CRL may leave ca-crl.pem (crl-pruning.ts). */
  workloadCertTtlMs?: number | undefined;
};

/** Revocation, decommissioning, and the CRLs of roots and intermediates. */
export function revocationService({ store, issuers, crypto, clock, observer, crlValidityMs = DEFAULT_CRL_VALIDITY_MS, workloadCertTtlMs = DEFAULT_WORKLOAD_CERT_TTL_MS }: Deps) {
  /** Reports the CRL change once a write that changed a CRL of `trustDomain` has committed. */
  const afterCrlWrite = async <T>(trustDomain: string, write: Promise<T>): Promise<T> => {
    const result = await write;
    observer.crlChanged(trustDomain);
    return result;
  };
  // thisUpdate is backdated by BACKDATE_MS: half the validity counts from when it was signed.
  const stale = (crl: CrlRecord | undefined, now: Date) =>
    !crl || now.getTime() >= crl.thisUpdate.getTime() + BACKDATE_MS + crlValidityMs / 2 || now.getTime() >= crl.nextUpdate.getTime();
  /** thisUpdate and nextUpdate of a CRL signed at `now`: backdated like certificates, for peers whose clock lags. */
  const window = (now: Date) => ({ thisUpdate: new Date(now.getTime() - BACKDATE_MS), nextUpdate: new Date(now.getTime() + crlValidityMs) });
  /** Revocations and decommissions, one at a time per trust domain, so that they never race each other for the root's next CRL. */
  const queues = new Map<string, Promise<unknown>>();
  function serialised<T>(trustDomain: string, work: () => Promise<T>): Promise<T> {
    const run = (queues.get(trustDomain) ?? Promise.resolve()).then(work, work);
    const tail = run.then(() => undefined, () => undefined);
    queues.set(trustDomain, tail);
    void tail.then(() => {
      if (queues.get(trustDomain) === tail) queues.delete(trustDomain);
    });
    return run;
  }

  async function buildRootCrl(root: RootRecord, seq: number, now: Date, extra?: CrlEntry): Promise<CrlRecord> {
    const revoked = (await store.listRevokedByRoot(root.serial)).map((r) => ({ ...r, reason: r.reason as RevocationReason }));
    const entries = extra ? [...revoked, extra] : revoked;
    const crl = await signCrlDer({ issuer: await issuers.root(root), number: seq, ...window(now), entries });
    return crlRecord(root.serial, "root", root.trustDomain, seq, crl, entries.length, now);
  }

  /**
   * Retries `attempt` while another writer commits a CRL of the same issuer first. Within one
   * process revocations are serialised (serialised below); writers in other processes (replicas
   * on one database, a CLI beside the server) are waited out with a growing, jittered pause, so
   * that racing writers stop colliding instead of retrying in lockstep.
   */
  async function withRetry<T>(attempt: () => Promise<T>): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await attempt();
      } catch (err) {
        if (!isDomainError(err, "crl_conflict") || i >= MAX_ATTEMPTS) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 10 * 2 ** Math.min(i, 6)));
      }
    }
  }

  /** The current CRL of an issuer, signing a new one when it is past half its validity. */
  async function freshCrl(issuerSerial: string, build: (seq: number, now: Date) => Promise<CrlRecord>): Promise<CrlRecord> {
    const now = clock.now();
    const latest = await store.getLatestCrl(issuerSerial);
    if (!stale(latest, now)) return latest!;
    const crl = await build((latest?.seq ?? 0) + 1, now);
    try {
      await store.insertCrl(crl, null);
      observer.crlChanged(crl.trustDomain);
      return crl;
    } catch (err) {
      if (!isDomainError(err, "crl_conflict")) throw err;
      return (await store.getLatestCrl(issuerSerial))!;
    }
  }

  const rootCrl = (root: RootRecord) => freshCrl(root.serial, (seq, now) => buildRootCrl(root, seq, now));

  // meshroot issues no certificates under an intermediate, so an escrowed intermediate's CRL is empty.
  const buildIntermediateCrl = async (rec: IntermediateRecord, seq: number, now: Date) =>
    crlRecord(rec.serial, "intermediate", rec.trustDomain, seq, await signCrlDer({ issuer: await issuers.intermediate(rec), number: seq, ...window(now), entries: [] }), 0, now);
  const intermediateCrl = (rec: IntermediateRecord) => freshCrl(rec.serial, (seq, now) => buildIntermediateCrl(rec, seq, now));

  /**
   * The current CRLs of many escrowed intermediates: read at once, the stale or missing ones
   * signed and committed together (one transaction where the store offers it). A CRL another
   * writer committed first is read back instead.
   */
  async function intermediateCrls(recs: readonly IntermediateRecord[], now: Date): Promise<Map<string, CrlRecord>> {
    if (!store.latestCrls || !store.insertCrls) {
      const out = new Map<string, CrlRecord>();
      for (const rec of recs) out.set(rec.serial, await intermediateCrl(rec));
      return out;
    }
    const latest = await store.latestCrls(recs.map((r) => r.serial));
    const signed: CrlRecord[] = [];
    for (const rec of recs) {
      const crl = latest.get(rec.serial);
      if (stale(crl, now)) signed.push(await buildIntermediateCrl(rec, (crl?.seq ?? 0) + 1, now));
    }
    if (signed.length === 0) return latest;
    const inserted = new Set((await store.insertCrls(signed)).map((c) => c.issuerSerial));
    for (const crl of signed) {
      latest.set(crl.issuerSerial, inserted.has(crl.issuerSerial) ? crl : (await store.getLatestCrl(crl.issuerSerial))!);
    }
    if (inserted.size > 0) observer.crlChanged(recs[0]!.trustDomain);
    return latest;
  }

  /** Every root of a trust domain; throws `trust_domain_not_found`. */
  async function allRoots(trustDomain: string): Promise<RootRecord[]> {
    const roots = await store.listRoots(trustDomain);
    if (roots.length === 0) throw new DomainError("trust_domain_not_found", `trust domain ${trustDomain} does not exist`);
    return roots;
  }

  /**
   * Roots whose CRL is kept fresh: every unexpired one, a retired root included (its CRL is
   * served until its last intermediate expires) and a prepared one (it joins ca-crl.pem).
   */
  async function servedRoots(trustDomain: string, now: Date): Promise<RootRecord[]> {
    return (await allRoots(trustDomain)).filter((r) => r.notAfter.getTime() > now.getTime());
  }

  /** Builds the revocation (with the root CRL that lists it) for an intermediate. */
  async function revocationOf(rec: IntermediateRecord, reason: RevocationReason) {
    const root = (await store.listRoots(rec.trustDomain)).find((r) => r.serial === rec.rootSerial);
    if (!root) throw new Error(`root ${rec.rootSerial} of ${rec.serial} is missing`);
    const now = clock.now();
    const latest = await store.getLatestCrl(root.serial);
    const crl = await buildRootCrl(root, (latest?.seq ?? 0) + 1, now, { serial: rec.serial, revokedAt: now, reason });
    return { serial: rec.serial, revokedAt: now, reason, crl };
  }

  return {
    /**
     * Revokes an intermediate and rebuilds its root's CRL in the same transaction. Throws
     * `certificate_not_found`, `already_revoked`.
     */
    async revoke(serial: string, reason: RevocationReason, ctx: AuditContext): Promise<IntermediateRecord> {
      const found = await store.getIntermediate(serial);
      const revoked = serialised(found?.trustDomain ?? "", () => withRetry(async () => {
        const rec = await store.getIntermediate(serial);
        if (!rec) throw new DomainError("certificate_not_found", `no intermediate has serial ${serial}`);
        if (rec.status === "revoked") throw new DomainError("already_revoked", `intermediate ${serial} was already revoked at ${rec.revokedAt!.toISOString()}`);
        const revocation = await revocationOf(rec, reason);
        return afterCrlWrite(rec.trustDomain, store.revokeIntermediate(
          revocation,
          auditInput(ctx, revocation.revokedAt, "intermediate.revoke", { type: "intermediate", id: serial }, rec, {
            reason,
            generation: rec.generation,
            crlNumber: revocation.crl.seq,
          }),
        ));
      }));
      revoked.then(
        () => observer.revocation("success"),
        () => observer.revocation("failure"),
      );
      return revoked;
    },

    /**
     * Decommissions a cluster: revokes its active intermediate (cessationOfOperation) and keeps
     * its history. Throws `cluster_not_found`, `cluster_decommissioned`.
     */
    async decommission(name: string, ctx: AuditContext): Promise<ClusterRecord> {
      const found = await store.getCluster(name);
      return serialised(found?.trustDomain ?? "", () => withRetry(async () => {
        const cluster = await store.getCluster(name);
        if (!cluster) throw new DomainError("cluster_not_found", `cluster ${name} does not exist`);
        if (cluster.decommissionedAt) throw new DomainError("cluster_decommissioned", `cluster ${name} is already decommissioned`);
        const active = await store.getActiveIntermediate(name);
        const revocation = active ? await revocationOf(active, "cessationOfOperation") : undefined;
        const now = clock.now();
        return afterCrlWrite(cluster.trustDomain, store.decommissionCluster(
          name,
          now,
          revocation,
          auditInput(ctx, now, "cluster.decommission", { type: "cluster", id: name }, { cluster: name, trustDomain: cluster.trustDomain }, {
            revokedSerial: revocation?.serial ?? null,
            reason: revocation ? "cessationOfOperation" : null,
          }),
        ));
      }));
    },

    /**
     * The trust domain's first root's current CRL (DER): the CRL distribution point of every
     * intermediate it signed. A later root's CRL is `rootCrlDerOf`. Throws `trust_domain_not_found`.
     */
    async rootCrlDer(trustDomain: string): Promise<Uint8Array> {
      const roots = await allRoots(trustDomain);
      return (await rootCrl(roots.find((r) => r.generation === 1) ?? roots[0]!)).der;
    },

    /** One root's current CRL (DER); throws `trust_domain_not_found`, `certificate_not_found`. */
    async rootCrlDerOf(trustDomain: string, serial: string): Promise<Uint8Array> {
      const root = (await allRoots(trustDomain)).find((r) => r.serial === serial);
      if (!root) throw new DomainError("certificate_not_found", `trust domain ${trustDomain} has no root with serial ${serial}`);
      return (await rootCrl(root)).der;
    },

    /**
     * `ca-crl.pem` for a trust domain: every trusted root's CRL, then a CRL from every
     * unexpired, unrevoked intermediate of the trust domain (signed here for escrowed keys,
     * uploaded for external ones). An external intermediate without a current CRL is left out
     * and named in `missing`: peers then reject only the workloads under that issuer, never the
     * whole trust domain. With `strict`, throws `crl_incomplete` instead.
     */
    async caCrlBundle(trustDomain: string, options: { strict?: boolean } = {}): Promise<CaCrlBundle> {
      const now = clock.now();
      const [all, rotation, live] = await Promise.all([allRoots(trustDomain), store.latestRootRotation(trustDomain), store.listLiveIntermediates(trustDomain, now)]);
      const issuers = caCrlIssuers(all, rotation, live, now, workloadCertTtlMs);
      const pems = await Promise.all(issuers.roots.map(async (r) => toPem((await rootCrl(r)).der, "X509 CRL")));
      const missing: IntermediateRecord[] = [];
      const signedHere = await intermediateCrls(issuers.intermediates.filter((r) => r.custody === "escrowed"), now);
      const external = issuers.intermediates.filter((r) => r.custody !== "escrowed");
      const uploads = store.latestCrls ? await store.latestCrls(external.map((r) => r.serial)) : undefined;
      for (const rec of issuers.intermediates) {
        if (rec.custody === "escrowed") {
          pems.push(toPem(signedHere.get(rec.serial)!.der, "X509 CRL"));
          continue;
        }
        const uploaded = uploads ? uploads.get(rec.serial) : await store.getLatestCrl(rec.serial);
        if (uploaded && uploaded.nextUpdate.getTime() > now.getTime()) pems.push(toPem(uploaded.der, "X509 CRL"));
        else missing.push(rec);
      }
      if (missing.length > 0 && options.strict) {
        throw new DomainError(
          "crl_incomplete",
          `${missing.length} intermediate(s) with external keys have no current CRL; upload one with PUT /v1/clusters/{name}/intermediates/{serial}/crl before distributing ca-crl.pem (Envoy rejects peers whose issuer has no CRL)`,
          missing.map((m) => ({ path: `intermediates.${m.serial}`, message: `cluster ${m.cluster} generation ${m.generation}: no current CRL` })),
        );
      }
      return { pem: pems.join(""), missing: missing.map((m) => ({ serial: m.serial, cluster: m.cluster, generation: m.generation })) };
    },

    /**
     * Accepts the CRL an intermediate with an external key signed. Throws `cluster_not_found`,
     * `certificate_not_found`, `escrowed_custody`, `invalid_pem`, `invalid_crl`, `crl_stale`.
     */
    async uploadCrl(clusterName: string, serial: string, body: Uint8Array, ctx: AuditContext): Promise<CrlRecord> {
      const rec = await store.getIntermediate(serial);
      if (!rec || rec.cluster !== clusterName) {
        throw new DomainError("certificate_not_found", `cluster ${clusterName} has no intermediate with serial ${serial}`);
      }
      if (rec.custody === "escrowed") {
        throw new DomainError("escrowed_custody", `intermediate ${serial} has an escrowed key: meshroot signs its CRL itself`);
      }
      const now = clock.now();
      const { crl, number } = await verifyUploadedCrl(body, new x509.X509Certificate(rec.certPem), now, crypto);
      return withRetry(async () => {
        const latest = await store.getLatestCrl(serial);
        if (latest && (latest.thisUpdate.getTime() > crl.thisUpdate.getTime() || (number !== undefined && latest.crlNumber !== null && number <= latest.crlNumber))) {
          throw new DomainError("crl_stale", `a newer CRL of ${serial} (thisUpdate ${latest.thisUpdate.toISOString()}, number ${latest.crlNumber}) is already stored`);
        }
        const signed = { der: new Uint8Array(crl.rawData), thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate! };
        const record: CrlRecord = {
          ...crlRecord(serial, "intermediate", rec.trustDomain, (latest?.seq ?? 0) + 1, signed, crl.entries.length, now),
          crlNumber: number ?? null,
          uploaded: true,
        };
        await afterCrlWrite(rec.trustDomain, store.insertCrl(
          record,
          auditInput(ctx, now, "crl.upload", { type: "intermediate", id: serial }, rec, {
            crlNumber: record.crlNumber,
            thisUpdate: record.thisUpdate.toISOString(),
            nextUpdate: record.nextUpdate.toISOString(),
            entries: record.entries,
          }),
        ));
        return record;
      });
    },

    /** Re-signs every CRL meshroot owns that is past half its validity; returns how many. */
    async refreshAll(): Promise<number> {
      let refreshed = 0;
      const now = clock.now();
      for (let after: string | undefined; ; ) {
        const domains = await store.listTrustDomains({ limit: 100, after });
        for (const d of domains) {
          for (const r of await servedRoots(d.name, now)) if (stale(await store.getLatestCrl(r.serial), now) && (await rootCrl(r))) refreshed++;
          // In pages, so that a fleet of many intermediates never holds the event loop for long.
          const freshAfter = new Date(now.getTime() - BACKDATE_MS - crlValidityMs / 2);
          for (let from: string | undefined; ; ) {
            const page = await store.listIntermediatesNeedingCrl(d.name, now, freshAfter, { limit: CRL_REFRESH_PAGE, after: from });
            for (const rec of page) if (await intermediateCrl(rec)) refreshed++;
            if (page.length < CRL_REFRESH_PAGE) break;
            from = page[page.length - 1]!.serial;
            await new Promise((resolve) => setImmediate(resolve));
          }
        }
        if (domains.length < 100) return refreshed;
        after = domains[domains.length - 1]!.name;
      }
    },
  };
}

export type RevocationService = ReturnType<typeof revocationService>;

/** An external-custody intermediate whose CRL ca-crl.pem lacks: its own workloads fail at peers. */
export interface MissingCrl {
  serial: string;
  cluster: string;
  generation: number;
}

/** ca-crl.pem and the issuers left out of it. */
export interface CaCrlBundle {
  pem: string;
  missing: MissingCrl[];
}

/** How many intermediates the CRL refresher reads at a time. */
const CRL_REFRESH_PAGE = 200;

function crlRecord(
  issuerSerial: string,
  issuerKind: CrlRecord["issuerKind"],
  trustDomain: string,
  seq: number,
  crl: SignedCrl,
  entries: number,
  now: Date,
): CrlRecord {
  return {
    issuerSerial,
    issuerKind,
    trustDomain,
    seq,
    crlNumber: seq,
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate,
    entries,
    der: crl.der,
    uploaded: false,
    createdAt: now,
  };
}

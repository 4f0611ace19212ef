import type { FastifyInstance } from "fastify";
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { FleetQueries, Observer, Store } from "../core/ports.js";
import type { Clock } from "../clock.js";
import type { FleetService } from "../core/fleet.js";
import { requestHistogram } from "./request-histogram.js";
import { toPem } from "../x509/pem.js";
import { openRotation } from "../core/root-rotation-plan.js";
import { caCrlIssuers, DEFAULT_WORKLOAD_CERT_TTL_MS } from "../core/ca-crl-issuers.js";

type FleetStore = Pick<FleetQueries, "listActiveIntermediates"> & Pick<Store, "listTrustDomains" | "listRoots" | "getLatestCrl" | "latestCrls" | "auditHead" | "listLiveIntermediates" | "latestRootRotation">;

const TRUST_STATES = ["converged", "drift", "stale", "unknown"] as const;

/**
 * meshroot's Prometheus metrics: fleet state read from the database at scrape time, outcome
 * counters fed by the core's Observer, and HTTP request durations.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const counters = {
    issuance: new Counter({ name: "meshroot_issuances_total", help: "Intermediate issuances by outcome", labelNames: ["outcome"], registers: [registry] }),
    rotation: new Counter({ name: "meshroot_rotations_total", help: "Per-cluster results of rotation runs by outcome", labelNames: ["outcome"], registers: [registry] }),
    revocation: new Counter({ name: "meshroot_revocations_total", help: "Revocations by outcome", labelNames: ["outcome"], registers: [registry] }),
  };
  const observer: Pick<Observer, "issuance" | "rotation" | "revocation"> = {
    issuance: (outcome) => counters.issuance.inc({ outcome }),
    rotation: (outcome) => counters.rotation.inc({ outcome }),
    revocation: (outcome) => counters.revocation.inc({ outcome }),
  };
  for (const c of Object.values(counters)) for (const outcome of ["success", "failure"]) c.inc({ outcome }, 0);

  const http = requestHistogram(registry, {
    name: "meshroot_http_request_duration_seconds",
    help: "HTTP request durations by route and status",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  });

  let refreshFleet = async () => {};

  return {
    registry,
    observer,

    /** The exposition text; fleet gauges are read from the database first. */
    async render(): Promise<string> {
      await refreshFleet();
      return registry.metrics();
    },

    /** Adds the fleet gauges, read from `store` at each scrape. */
    watchFleet(store: FleetStore, clock: Clock, workloadCertTtlMs = DEFAULT_WORKLOAD_CERT_TTL_MS): void {
      const labels = ["cluster", "trust_domain"];
      const notAfter = new Gauge({ name: "meshroot_intermediate_not_after_timestamp_seconds", help: "Expiry of each cluster's active intermediate", labelNames: labels, registers: [registry] });
      const rotateAfter = new Gauge({ name: "meshroot_intermediate_rotate_after_timestamp_seconds", help: "When each cluster's active intermediate is due for rotation", labelNames: labels, registers: [registry] });
      const rootNotAfter = new Gauge({ name: "meshroot_root_not_after_timestamp_seconds", help: "Expiry of each root", labelNames: ["trust_domain", "serial", "status"], registers: [registry] });
      const crlAge = new Gauge({ name: "meshroot_crl_age_seconds", help: "Age of each trust domain's current root CRL", labelNames: ["trust_domain"], registers: [registry] });
      const crlNext = new Gauge({ name: "meshroot_crl_next_update_timestamp_seconds", help: "nextUpdate of each trust domain's current root CRL", labelNames: ["trust_domain"], registers: [registry] });
      const crlBytes = new Gauge({ name: "meshroot_ca_crl_bytes", help: "Size of each trust domain's ca-crl.pem (PEM bytes); Kubernetes caps a Secret's data at 1 MiB", labelNames: ["trust_domain"], registers: [registry] });
      const crlMissing = new Gauge({ name: "meshroot_crl_missing", help: "1 for each live external-custody intermediate without a current CRL: left out of ca-crl.pem, so peers refuse its workloads", labelNames: ["trust_domain", "cluster", "serial"], registers: [registry] });
      const rotationPhase = new Gauge({
        name: "meshroot_root_rotation_phase",
        help: "1 for the phase of each trust domain's root rotation in progress (prepared, trust-both, sign-new, drop-old); absent when none",
        labelNames: ["trust_domain", "phase"],
        registers: [registry],
      });
      const rotationSince = new Gauge({ name: "meshroot_root_rotation_phase_since_timestamp_seconds", help: "When the root rotation in progress entered its phase", labelNames: ["trust_domain"], registers: [registry] });
      const prepared = new Gauge({
        name: "meshroot_intermediate_prepared_timestamp_seconds",
        help: "When each staged rotation's prepared intermediate was prepared (waiting for its peers to load its CRL); absent when none waits",
        labelNames: ["cluster", "trust_domain", "serial"],
        registers: [registry],
      });
      const seconds = (d: Date) => d.getTime() / 1000;
      const pemBytes = (der: Uint8Array) => toPem(der, "X509 CRL").length;

      /** ca-crl.pem's size and missing issuers as caCrlBundle assembles it, from stored CRLs only (a scrape signs nothing). */
      async function caCrl(trustDomain: string, now: Date): Promise<void> {
        let bytes = 0;
        const [roots, rotation] = await Promise.all([store.listRoots(trustDomain), store.latestRootRotation(trustDomain)]);
        const open = openRotation(rotation);
        if (open) {
          rotationPhase.set({ trust_domain: trustDomain, phase: open.phase }, 1);
          rotationSince.set({ trust_domain: trustDomain }, seconds(open.history.at(-1)!.at));
        }
        const live = await store.listLiveIntermediates(trustDomain, now);
        // A staged rotation's prepared intermediate (not a root rotation's: that one has its phase gauge).
        for (const rec of live) {
          if (rec.status === "prepared" && rec.rootSerial !== open?.newRoot) prepared.set({ cluster: rec.cluster, trust_domain: trustDomain, serial: rec.serial }, seconds(rec.createdAt));
        }
        // The issuers caCrlBundle puts in ca-crl.pem (ca-crl-issuers.ts).
        const issuers = caCrlIssuers(roots, rotation, live, now, workloadCertTtlMs);
        for (const r of issuers.roots) {
          const crl = await store.getLatestCrl(r.serial);
          if (crl) bytes += pemBytes(crl.der);
        }
        // Thousands of issuers: their latest CRLs in one read where the store offers it.
        const latest = store.latestCrls ? await store.latestCrls(issuers.intermediates.map((r) => r.serial)) : undefined;
        for (const rec of issuers.intermediates) {
          const crl = latest ? latest.get(rec.serial) : await store.getLatestCrl(rec.serial);
          if (crl && (rec.custody === "escrowed" || crl.nextUpdate.getTime() > now.getTime())) bytes += pemBytes(crl.der);
          else if (rec.custody === "external") crlMissing.set({ trust_domain: trustDomain, cluster: rec.cluster, serial: rec.serial }, 1);
        }
        crlBytes.set({ trust_domain: trustDomain }, bytes);
      }
      // The audit chain head, so that an external system (Prometheus) keeps a record of where the trail ended: docs/audit.md.
      const headSeq = new Gauge({ name: "meshroot_audit_head_seq", help: "Seq of the newest audit event (the chain head)", registers: [registry] });
      const headInfo = new Gauge({ name: "meshroot_audit_head_info", help: "The audit chain head's hash (label; value 1)", labelNames: ["seq", "hash"], registers: [registry] });

      refreshFleet = async () => {
        for (const g of [notAfter, rotateAfter, rootNotAfter, crlAge, crlNext, crlBytes, crlMissing, rotationPhase, rotationSince, prepared]) g.reset();
        const head = (await store.auditHead()) ?? { seq: 0, hash: "0".repeat(64) };
        headSeq.set(head.seq);
        headInfo.reset();
        headInfo.set({ seq: String(head.seq), hash: head.hash }, 1);
        for (const i of await store.listActiveIntermediates()) {
          notAfter.set({ cluster: i.cluster, trust_domain: i.trustDomain }, seconds(i.notAfter));
          rotateAfter.set({ cluster: i.cluster, trust_domain: i.trustDomain }, seconds(i.rotateAfter));
        }
        const now = clock.now();
        for (let after: string | undefined; ; ) {
          const domains = await store.listTrustDomains({ limit: 200, after });
          for (const d of domains) {
            await caCrl(d.name, now);
            for (const r of await store.listRoots(d.name)) {
              rootNotAfter.set({ trust_domain: d.name, serial: r.serial, status: r.status }, seconds(r.notAfter));
              if (r.status !== "active") continue;
              const crl = await store.getLatestCrl(r.serial);
              if (!crl) continue;
              // Since it was signed: thisUpdate is backdated a minute for peers whose clock lags.
              crlAge.set({ trust_domain: d.name }, (now.getTime() - crl.createdAt.getTime()) / 1000);
              crlNext.set({ trust_domain: d.name }, seconds(crl.nextUpdate));
            }
          }
          if (domains.length < 200) break;
          after = domains[domains.length - 1]!.name;
        }
      };
    },

    /**
     * Adds the trust-state gauges, derived by the core's fleet service at each scrape: one series
     * per state (1 for the current one) so that alerts can match `state="drift"`.
     */
    watchTrust(fleet: Pick<FleetService, "list">, clock: Clock): void {
      const state = new Gauge({ name: "meshroot_cluster_trust_state", help: "1 for each cluster's current trust state (converged, drift, stale, unknown), 0 for the others", labelNames: ["cluster", "trust_domain", "state"], registers: [registry] });
      const age = new Gauge({ name: "meshroot_cluster_observation_age_seconds", help: "Seconds since each cluster's latest observation; absent when it never reported", labelNames: ["cluster", "trust_domain"], registers: [registry] });
      const previous = refreshFleet;
      refreshFleet = async () => {
        await previous();
        state.reset();
        age.reset();
        const now = clock.now();
        for (let after: string | undefined; ; ) {
          const page = await fleet.list({}, { limit: 200, after });
          for (const e of page) {
            // A decommissioned cluster reports nothing any more: no alert should fire for it.
            if (e.status === "decommissioned") continue;
            const labels = { cluster: e.cluster.name, trust_domain: e.cluster.trustDomain };
            for (const s of TRUST_STATES) state.set({ ...labels, state: s }, s === e.trust.state ? 1 : 0);
            if (e.observation) age.set(labels, (now.getTime() - e.observation.observedAt.getTime()) / 1000);
          }
          if (page.length < 200) break;
          after = page[page.length - 1]!.cluster.name;
        }
      };
    },

    /** Times every request by its route pattern. */
    instrument(app: FastifyInstance): void {
      app.addHook("onResponse", (request, reply, done) => {
        const route = request.routeOptions.url ?? "unmatched";
        const status = reply.statusCode;
        http.observe(`${request.method} ${status} ${route}`, () => ({ method: request.method, route, status_code: String(status) }), reply.elapsedTime / 1000);
        done();
      });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

import type { Clock } from "../clock.js";
import { DomainError } from "../errors.js";
import { auditInput, type AuditContext } from "./audit.js";
import type { IssuanceService } from "./issuance.js";
import { DEFAULT_WORKLOAD_CERT_TTL_MS } from "./ca-crl-issuers.js";
import { issuerKeyIds } from "./issuer-key-ids.js";
import { liveClusters } from "./clusters.js";
import { newRoot, type NewRootInput } from "./new-root.js";
import { observedFacts } from "./observed-facts.js";
import type { IntermediateRecord, Observer, RootKeys, RootRecord, RootRotationChange, RootRotationRecord, Store } from "./ports.js";
import { evaluateGate, type ClusterGate, type GateVerdict, type RotationCluster } from "./root-rotation-gates.js";
import { bundleRoots, isSwitched, openRotation } from "./root-rotation-plan.js";
import { DEFAULT_OBSERVATION_MAX_AGE_MS } from "./trust-state.js";


type Deps = {
  store: Pick<
    Store,
    | "getTrustDomain"
    | "listRoots"
    | "findRootByFingerprint"
    | "latestRootRotation"
    | "startRootRotation"
    | "applyRootRotation"
    | "listClusters"
    | "getCluster"
    | "activeAndLatestIntermediates"
    | "listLiveIssuers"
    | "getIntermediate"
    | "latestObservationSummaries"
    | "latestObservation"
  >;
  rootKeys: RootKeys;
  crypto: Crypto;
  clock: Clock;
  observer: Pick<Observer, "bundleChanged" | "crlChanged">;
  issuance: Pick<IssuanceService, "prepare">;
  observationMaxAgeMs?: number | undefined;
  /** The default workload certificate lifetime of a rotation (MESHROOT_WORKLOAD_CERT_TTL). */
  workloadCertTtlMs?: number | undefined;
};

export interface StartRootRotationInput extends NewRootInput {
  /** How long workload certificates live (drop-old waits this long after the last switch); default 24 h. */
  workloadCertTtlMs?: number | undefined;
  revokeOldRoot?: boolean | undefined;
}

/** A rotation with everything its status page shows. */
export interface RootRotationView {
  rotation: RootRotationRecord;
  oldRoot: RootRecord;
  newRoot: RootRecord;
  clusters: (RotationCluster & { bundle: RootRecord[] })[];
  gate: GateVerdict;
}

export interface AdvanceInput {
  force?: boolean | undefined;
  reason?: string | undefined;
}

/** What an advance did: moved to a phase, or switched the clusters still signing under the old root. */
export interface AdvanceResult {
  view: RootRotationView;
  movedTo: RootRotationRecord["phase"] | null;
  switched: string[];
  forced: ClusterGate[];
}

/** Root rotation in gated phases (root-rotation-plan.ts has what each phase emits). */
export function rootRotationService({ store, rootKeys, crypto, clock, observer, issuance, observationMaxAgeMs = DEFAULT_OBSERVATION_MAX_AGE_MS, workloadCertTtlMs = DEFAULT_WORKLOAD_CERT_TTL_MS }: Deps) {
  const keyIdsOf = issuerKeyIds(store);
  const changed = (trustDomain: string) => {
    observer.bundleChanged(trustDomain);
    observer.crlChanged(trustDomain);
  };

  async function requireOpen(trustDomain: string): Promise<RootRotationRecord> {
    if (!(await store.getTrustDomain(trustDomain))) throw new DomainError("trust_domain_not_found", `trust domain ${trustDomain} does not exist`);
    const open = openRotation(await store.latestRootRotation(trustDomain));
    if (!open) throw new DomainError("root_rotation_not_found", `trust domain ${trustDomain} has no root rotation in progress; start one with POST /v1/trust-domains/${trustDomain}/root-rotation`);
    return open;
  }

  /** Every live cluster with its intermediates and latest report, the gate, and the roots. */
  async function view(rotation: RootRotationRecord): Promise<RootRotationView> {
    const now = clock.now();
    const roots = await store.listRoots(rotation.trustDomain);
    const oldRoot = roots.find((r) => r.serial === rotation.oldRoot)!;
    const newRoot = roots.find((r) => r.serial === rotation.newRoot)!;
    const clusters = await liveClusters(store, rotation.trustDomain);
    const names = clusters.map((c) => c.name);
    const [intermediates, summaries, issuers] = await Promise.all([
      store.activeAndLatestIntermediates(names),
      store.latestObservationSummaries(names),
      store.listLiveIssuers(rotation.trustDomain, now),
    ]);
    // Only the new root's: a staged rotation's prepared intermediate (under the old root) is not the rotation's.
    const prepared = new Map(issuers.filter((r) => r.status === "prepared" && r.rootSerial === newRoot.serial).map((r) => [r.cluster, r]));
    const bSide = new Set([...(await keyIdsOf(issuers.filter((r) => r.rootSerial === newRoot.serial))).values()].map((k) => k.toLowerCase()));
    const rows: RootRotationView["clusters"] = [];
    for (const c of clusters) {
      const active = intermediates.get(c.name)?.active;
      const summary = summaries.get(c.name);
      let observation: RotationCluster["observation"];
      if (summary) {
        const facts = summary.facts ?? observedFacts((await store.latestObservation(c.name))!);
        observation = { observedAt: summary.observedAt, facts, multiRoot: summary.multiRoot };
      }
      const switched = isSwitched(rotation, active?.rootSerial);
      const custody = (prepared.get(c.name) ?? active)?.custody ?? "escrowed";
      rows.push({ name: c.name, custody, active, prepared: prepared.get(c.name), switched, observation, bundle: bundleRoots(roots, rotation, switched) });
    }
    const gate = evaluateGate({ rotation, roots, newRoot, clusters: rows, now, maxAgeMs: observationMaxAgeMs }, bSide);
    return { rotation, oldRoot, newRoot, clusters: rows, gate };
  }

  /**
   * Issues the new root's intermediate for every escrowed cluster that has none yet (new clusters
   * too); returns the rotation's view after it.
   */
  async function prepareMissing(rotation: RootRotationRecord, ctx: AuditContext): Promise<RootRotationView> {
    const v = await view(rotation);
    if (rotation.phase === "drop-old") return v;
    const missing = v.clusters.filter((c) => !c.prepared && !c.switched && c.custody !== "external");
    for (const c of missing) await issuance.prepare(c.name, v.newRoot, undefined, ctx);
    return missing.length > 0 ? view(rotation) : v;
  }

  const audit = (ctx: AuditContext, at: Date, action: string, rotation: RootRotationRecord, details: Record<string, unknown>) =>
    auditInput(ctx, at, action, { type: "trust_domain", id: rotation.trustDomain }, { trustDomain: rotation.trustDomain }, { rotation: rotation.id, oldRoot: rotation.oldRoot, newRoot: rotation.newRoot, ...details });

  /** The moves that put a cluster's prepared intermediate in service: the active one first steps down. */
  function switchMoves(c: RotationCluster): NonNullable<RootRotationChange["intermediates"]> {
    const moves: NonNullable<RootRotationChange["intermediates"]> = [];
    if (c.active) moves.push({ serial: c.active.serial, from: "active", to: "superseded" });
    moves.push({ serial: c.prepared!.serial, from: "prepared", to: "active", supersedes: c.active?.serial ?? null });
    return moves;
  }

  async function apply(change: RootRotationChange, rotation: RootRotationRecord, action: string, ctx: AuditContext, details: Record<string, unknown>) {
    const next = await store.applyRootRotation(change, audit(ctx, change.at, action, rotation, { from: change.fromPhase, to: change.toPhase, ...details }));
    changed(rotation.trustDomain);
    return next;
  }

  return {
    /**
     * Starts a root rotation: a new root (generated or imported) stored `prepared`, and an
     * intermediate under it prepared for every escrowed cluster. Nothing clusters receive changes.
     * Throws `trust_domain_not_found`, `root_rotation_in_progress`, `root_in_use`, import errors.
     */
    async start(trustDomain: string, input: StartRootRotationInput, ctx: AuditContext): Promise<RootRotationView> {
      const domain = await store.getTrustDomain(trustDomain);
      if (!domain) throw new DomainError("trust_domain_not_found", `trust domain ${trustDomain} does not exist`);
      const current = openRotation(await store.latestRootRotation(trustDomain));
      if (current) throw new DomainError("root_rotation_in_progress", `trust domain ${trustDomain} already has a root rotation in phase ${current.phase}`);
      const roots = await store.listRoots(trustDomain);
      const old = roots.find((r) => r.status === "active");
      if (!old) throw new DomainError("root_expired", `trust domain ${trustDomain} has no active root to rotate from`);
      const now = clock.now();
      // A cluster holds one prepared intermediate at a time: staged rotations finish first.
      const staged = (await store.listLiveIssuers(trustDomain, now)).filter((i) => i.status === "prepared").map((i) => i.cluster);
      if (staged.length > 0) {
        throw new DomainError(
          "activation_pending",
          `cluster(s) ${staged.slice(0, 10).join(", ")}${staged.length > 10 ? ` and ${staged.length - 10} more` : ""} of trust domain ${trustDomain} have a prepared intermediate waiting for activation; activate them (POST /v1/clusters/{name}/intermediates/{serial}/activate) before a root rotation`,
        );
      }
      const generation = Math.max(...roots.map((r) => r.generation)) + 1;
      const { record, warnings } = await newRoot({ store, rootKeys, crypto }, trustDomain, generation, input, domain.organization, now);
      const rotation: Omit<RootRotationRecord, "id"> = {
        trustDomain,
        oldRoot: old.serial,
        newRoot: record.serial,
        phase: "prepared",
        history: [{ phase: "prepared", at: now }],
        workloadCertTtlMs: input.workloadCertTtlMs ?? workloadCertTtlMs,
        revokeOldRoot: input.revokeOldRoot ?? false,
        lastSwitchAt: null,
        startedAt: now,
        finishedAt: null,
      };
      const stored = await store.startRootRotation(
        record,
        rotation,
        auditInput(ctx, now, "root_rotation.start", { type: "trust_domain", id: trustDomain }, { trustDomain }, {
          oldRoot: old.serial,
          newRoot: record.serial,
          imported: record.imported,
          keyAlgorithm: record.keyAlgorithm,
          notAfter: record.notAfter.toISOString(),
          fingerprintSha256: record.fingerprintSha256,
          warnings,
        }),
      );
      return prepareMissing(stored, ctx);
    },

    /** The open rotation, or the last finished one; throws `root_rotation_not_found`. */
    async status(trustDomain: string): Promise<RootRotationView> {
      if (!(await store.getTrustDomain(trustDomain))) throw new DomainError("trust_domain_not_found", `trust domain ${trustDomain} does not exist`);
      const latest = await store.latestRootRotation(trustDomain);
      if (!latest) throw new DomainError("root_rotation_not_found", `trust domain ${trustDomain} has never rotated its root`);
      return view(latest);
    },

    /**
     * Moves to the next phase when its gate is met, or with `force` (and a reason) when not. In
     * sign-new, first switches every cluster still signing under the old root. Throws
     * `root_rotation_not_found`, `gate_not_met` (naming the clusters and why),
     * `root_rotation_conflict` (another step won), `validation_failed` (force without a reason).
     */
    async advance(trustDomain: string, input: AdvanceInput, ctx: AuditContext): Promise<AdvanceResult> {
      if (input.force && !input.reason?.trim()) throw new DomainError("validation_failed", "a forced step needs a reason (it is audited)", [{ path: "body.reason", message: "required with force" }]);
      let rotation = await requireOpen(trustDomain);
      let v = await prepareMissing(rotation, ctx);
      const now = clock.now();
      if (rotation.phase === "sign-new") {
        const pending = v.clusters.filter((c) => !c.switched && c.prepared);
        if (pending.length > 0) {
          rotation = await apply(
            { id: rotation.id, fromPhase: "sign-new", toPhase: "sign-new", at: now, intermediates: pending.flatMap(switchMoves), lastSwitchAt: now },
            rotation,
            "root_rotation.switch",
            ctx,
            { clusters: pending.map((c) => c.name) },
          );
          return { view: await view(rotation), movedTo: null, switched: pending.map((c) => c.name), forced: [] };
        }
      }
      const gate = v.gate;
      if (gate.next === null) throw new DomainError("root_rotation_step", `the rotation is ${rotation.phase}: there is no next phase`);
      const blocking = gate.clusters.filter((c) => !c.met);
      const waiting = gate.notBefore !== null && now.getTime() < gate.notBefore.getTime();
      if (!gate.met && !input.force) {
        const errors = blocking.map((c) => ({ path: `clusters.${c.cluster}`, message: `${c.code}: ${c.detail}` }));
        if (waiting) errors.push({ path: "workloadCertTtl", message: `workload certificates under the old root may live until ${gate.notBefore!.toISOString()}` });
        throw new DomainError("gate_not_met", `cannot move from ${rotation.phase} to ${gate.next}: ${blocking.length} cluster(s) not ready${waiting ? `, and not before ${gate.notBefore!.toISOString()}` : ""}`, errors);
      }
      const change: RootRotationChange = { id: rotation.id, fromPhase: rotation.phase, toPhase: gate.next, at: now };
      if (gate.next === "sign-new") change.rootStatuses = [{ serial: rotation.oldRoot, status: "retiring" }, { serial: rotation.newRoot, status: "active" }];
      if (gate.next === "done") {
        change.rootStatuses = [{ serial: rotation.oldRoot, status: rotation.revokeOldRoot ? "revoked" : "retired" }];
        change.finished = true;
      }
      const forced = gate.met ? [] : blocking;
      rotation = await apply(change, rotation, input.force && !gate.met ? "root_rotation.force" : "root_rotation.advance", ctx, {
        ...(forced.length > 0 || (input.force && !gate.met) ? { reason: input.reason, notConverged: forced.map((c) => ({ cluster: c.cluster, code: c.code })), notBefore: waiting ? gate.notBefore!.toISOString() : null } : {}),
      });
      v = await view(rotation);
      return { view: v, movedTo: rotation.phase, switched: [], forced };
    },

    /** In sign-new, switches one cluster to its prepared intermediate (a canary). */
    async switchCluster(trustDomain: string, cluster: string, ctx: AuditContext): Promise<RootRotationView> {
      const rotation = await requireOpen(trustDomain);
      if (rotation.phase !== "sign-new") throw new DomainError("root_rotation_step", `clusters switch in sign-new; the rotation is ${rotation.phase}`);
      const c = (await view(rotation)).clusters.find((x) => x.name === cluster);
      if (!c) throw new DomainError("cluster_not_found", `trust domain ${trustDomain} has no live cluster ${cluster}`);
      if (c.switched) throw new DomainError("root_rotation_step", `cluster ${cluster} already signs under the new root`);
      if (!c.prepared) throw new DomainError("root_rotation_step", `cluster ${cluster} has no intermediate under the new root: send a CSR first`);
      const now = clock.now();
      const next = await apply({ id: rotation.id, fromPhase: "sign-new", toPhase: "sign-new", at: now, intermediates: switchMoves(c), lastSwitchAt: now }, rotation, "root_rotation.switch", ctx, { clusters: [cluster] });
      return view(next);
    },

    /** An external-custody cluster's intermediate under the new root, from its CSR. */
    async prepareFromCsr(trustDomain: string, cluster: string, csrPem: string, ctx: AuditContext): Promise<IntermediateRecord> {
      const rotation = await requireOpen(trustDomain);
      if (rotation.phase === "drop-old") throw new DomainError("root_rotation_step", "in drop-old every cluster issues under the new root: use POST /v1/clusters/{name}/intermediates");
      const v = await view(rotation);
      const c = v.clusters.find((x) => x.name === cluster);
      if (!c) throw new DomainError("cluster_not_found", `trust domain ${trustDomain} has no live cluster ${cluster}`);
      if (c.prepared || c.switched) throw new DomainError("root_rotation_step", `cluster ${cluster} already has an intermediate under the new root`);
      return issuance.prepare(cluster, v.newRoot, csrPem, ctx);
    },

    /**
     * Steps back one phase: sign-new → trust-both (switched clusters sign under the old root
     * again), trust-both → prepared, prepared → rolled back (the new root is retired). Refused
     * from drop-old on. Throws `root_rotation_step` naming what blocks it.
     */
    async rollback(trustDomain: string, reason: string | undefined, ctx: AuditContext): Promise<RootRotationView> {
      const rotation = await requireOpen(trustDomain);
      const v = await view(rotation);
      const now = clock.now();
      const base = { id: rotation.id, fromPhase: rotation.phase, at: now };
      let change: RootRotationChange;
      if (rotation.phase === "sign-new") {
        const moves: NonNullable<RootRotationChange["intermediates"]> = [];
        const stuck: string[] = [];
        const live = new Map((await store.listLiveIssuers(trustDomain, now)).map((r) => [r.serial, r]));
        for (const c of v.clusters.filter((x) => x.switched)) {
          // The intermediate it superseded, when that one is under the old root and still valid.
          const prev = c.active!.supersedes ? live.get(c.active!.supersedes) : undefined;
          const previous = prev && prev.rootSerial === rotation.oldRoot && prev.status === "superseded" ? prev : undefined;
          if (!previous) {
            stuck.push(c.name);
            continue;
          }
          moves.push({ serial: c.active!.serial, from: "active", to: "prepared", supersedes: null }, { serial: previous.serial, from: "superseded", to: "active" });
        }
        if (stuck.length > 0) {
          throw new DomainError("root_rotation_step", `cannot step back: ${stuck.join(", ")} rotated under the new root since switching, so no valid intermediate under the old root remains to return to`);
        }
        change = { ...base, toPhase: "trust-both", intermediates: moves, rootStatuses: [{ serial: rotation.oldRoot, status: "active" }, { serial: rotation.newRoot, status: "prepared" }] };
      } else if (rotation.phase === "trust-both") {
        change = { ...base, toPhase: "prepared" };
      } else if (rotation.phase === "prepared") {
        const prepared = v.clusters.filter((c) => c.prepared).map((c) => ({ serial: c.prepared!.serial, from: "prepared" as const, to: "superseded" as const }));
        change = { ...base, toPhase: "rolled-back", intermediates: prepared, rootStatuses: [{ serial: rotation.newRoot, status: "retired" }], finished: true };
      } else {
        throw new DomainError("root_rotation_step", `no step back from ${rotation.phase}: clusters no longer trust the old root`);
      }
      return view(await apply(change, rotation, "root_rotation.rollback", ctx, { reason: reason ?? null }));
    },
  };
}

export type RootRotationService = ReturnType<typeof rootRotationService>;

import type { Clock } from "../clock.js";
import { DomainError } from "../errors.js";
import { auditInput, type AuditContext } from "./audit.js";
import { DEFAULT_KEY_ALGORITHM } from "../x509/key-algorithms.js";
import { clusterState, type ClusterState } from "./cluster-state.js";
import type { ClusterPolicy, ClusterRecord, IntermediateRecord, Page, Store } from "./ports.js";

export const DEFAULT_VALIDITY_DAYS = 365;

export interface ClusterView {
  cluster: ClusterRecord;
  status: ClusterState;
  active: IntermediateRecord | undefined;
}

export interface RegisterClusterInput {
  name: string;
  trustDomain: string;
  labels?: Record<string, string> | undefined;
  policy?: Partial<ClusterPolicy> | undefined;
}

type Deps = {
  store: Pick<
    Store,
    "createCluster" | "getCluster" | "listClusters" | "updateCluster" | "getTrustDomain" | "getActiveIntermediate" | "getLatestIntermediate"
  >;
  clock: Clock;
};

/** Clusters: registration, policy, and their derived status. */
export function clusterService({ store, clock }: Deps) {
  async function view(cluster: ClusterRecord): Promise<ClusterView> {
    const [active, latest] = await Promise.all([
      store.getActiveIntermediate(cluster.name),
      store.getLatestIntermediate(cluster.name),
    ]);
    return { cluster, status: clusterState(cluster, active, latest, clock.now()), active };
  }


  return {
    /**
     * Registers a cluster in an existing trust domain. Policy defaults: ecdsa-p256, 365 days,
     * renew-before one third. Throws `trust_domain_not_found`, `cluster_exists`, `validation_failed`.
     */
    async register(input: RegisterClusterInput, ctx: AuditContext): Promise<ClusterView> {
      if (!(await store.getTrustDomain(input.trustDomain))) {
        throw new DomainError("trust_domain_not_found", `trust domain ${input.trustDomain} does not exist`);
      }
      const existing = await store.getCluster(input.name);
      if (existing?.decommissionedAt) {
        // The name keeps its history (intermediates, CRLs, audit events are keyed by it): never reused.
        throw new DomainError(
          "cluster_exists",
          `the name ${input.name} belongs to a cluster decommissioned at ${existing.decommissionedAt.toISOString()}; a name is never reused (its certificates and audit trail keep it), so register the cluster under a new name`,
        );
      }
      if (existing) throw new DomainError("cluster_exists", `cluster ${input.name} already exists (trust domain ${existing.trustDomain})`);
      const now = clock.now();
      const cluster: ClusterRecord = {
        name: input.name,
        trustDomain: input.trustDomain,
        labels: input.labels ?? {},
        policy: resolvePolicy(input.policy, undefined),
        createdAt: now,
        updatedAt: now,
        decommissionedAt: null,
      };
      await store.createCluster(
        cluster,
        auditInput(ctx, now, "cluster.create", { type: "cluster", id: cluster.name }, { cluster: cluster.name, trustDomain: cluster.trustDomain }, { labels: cluster.labels, policy: cluster.policy }),
      );
      return { cluster, status: "pending", active: undefined };
    },

    /** A cluster with its status and active intermediate; throws `cluster_not_found`. */
    async get(name: string): Promise<ClusterView> {
      return view(await requireCluster(store, name));
    },

    async list(page: Page, filter: { trustDomain?: string | undefined }): Promise<ClusterView[]> {
      return Promise.all((await store.listClusters(page, filter)).map(view));
    },

    /**
     * Replaces labels and/or merges policy fields; the policy applies from the next issuance.
     * Throws `cluster_not_found`, `cluster_decommissioned`, `validation_failed`.
     */
    async update(
      name: string,
      patch: { labels?: Record<string, string> | undefined; policy?: Partial<ClusterPolicy> | undefined },
      ctx: AuditContext,
    ): Promise<ClusterView> {
      const cluster = await requireCluster(store, name);
      if (cluster.decommissionedAt) throw new DomainError("cluster_decommissioned", `cluster ${name} is decommissioned`);
      const change = {
        ...(patch.labels ? { labels: patch.labels } : {}),
        ...(patch.policy ? { policy: resolvePolicy(patch.policy, cluster.policy) } : {}),
      };
      const now = clock.now();
      const updated = await store.updateCluster(
        name,
        { ...change, updatedAt: now },
        auditInput(ctx, now, "cluster.update", { type: "cluster", id: name }, { cluster: name, trustDomain: cluster.trustDomain }, change),
      );
      return view(updated);
    },
  };
}

export type ClusterService = ReturnType<typeof clusterService>;

/** The named cluster; throws `cluster_not_found`. */
export async function requireCluster(store: Pick<Store, "getCluster">, name: string): Promise<ClusterRecord> {
  const cluster = await store.getCluster(name);
  if (!cluster) throw new DomainError("cluster_not_found", `cluster ${name} does not exist`);
  return cluster;
}

/** Merges a partial policy over `base` (or the defaults) and checks renew-before < validity. */
/** A trust domain's clusters that are not decommissioned, in name order. */
export async function liveClusters(store: Pick<Store, "listClusters">, trustDomain: string): Promise<ClusterRecord[]> {
  const out: ClusterRecord[] = [];
  for (let after: string | undefined; ; ) {
    const page = await store.listClusters({ limit: 500, after }, { trustDomain });
    out.push(...page.filter((c) => !c.decommissionedAt));
    if (page.length < 500) return out;
    after = page[page.length - 1]!.name;
  }
}

export function resolvePolicy(patch: Partial<ClusterPolicy> | undefined, base: ClusterPolicy | undefined): ClusterPolicy {
  const policy: ClusterPolicy = {
    keyAlgorithm: patch?.keyAlgorithm ?? base?.keyAlgorithm ?? DEFAULT_KEY_ALGORITHM,
    validityDays: patch?.validityDays ?? base?.validityDays ?? DEFAULT_VALIDITY_DAYS,
    renewBeforeDays: patch?.renewBeforeDays !== undefined ? patch.renewBeforeDays : (base?.renewBeforeDays ?? null),
  };
  if (policy.renewBeforeDays !== null && policy.renewBeforeDays >= policy.validityDays) {
    throw new DomainError("validation_failed", "policy.renewBeforeDays must be less than policy.validityDays", [
      { path: "policy.renewBeforeDays", message: `must be less than validityDays (${policy.validityDays})` },
    ]);
  }
  return policy;
}

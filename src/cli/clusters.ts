import { clientFromOptions, emit, type ClientOptions } from "./client.js";
import type { Intermediate } from "./intermediates.js";
import { allPages, fields, table } from "./output.js";

/** A cluster as GET /v1/clusters/{name} answers it. */
interface Cluster {
  name: string;
  trustDomain: string;
  labels: Record<string, string>;
  policy: { keyAlgorithm: string; validityDays: number; renewBeforeDays: number | null };
  status: string;
  createdAt: string;
  decommissionedAt: string | null;
  activeIntermediate: Intermediate | null;
}

export interface ClusterCreateOptions extends ClientOptions {
  trustDomain: string;
  label?: Record<string, string>;
  keyAlgorithm?: string;
  validityDays?: number;
  renewBeforeDays?: number;
  output?: string;
}

/** `meshroot cluster create <name> --trust-domain TD`: POST /v1/clusters with labels and issuance policy. */
export async function clusterCreateCommand(name: string, opts: ClusterCreateOptions): Promise<void> {
  const policy = { keyAlgorithm: opts.keyAlgorithm, validityDays: opts.validityDays, renewBeforeDays: opts.renewBeforeDays };
  const hasPolicy = Object.values(policy).some((v) => v !== undefined);
  const cluster = await clientFromOptions(opts).post<Cluster>("v1/clusters", {
    json: { name, trustDomain: opts.trustDomain, ...(opts.label ? { labels: opts.label } : {}), ...(hasPolicy ? { policy } : {}) },
  });
  emit(opts.output, cluster, (c) => `registered cluster ${c.name}; issue its first intermediate with: meshroot issue ${c.name}\n${describe(c)}`);
}

/** `meshroot cluster list [--trust-domain TD]`: every cluster with its status and active intermediate. */
export async function clusterListCommand(opts: ClientOptions & { trustDomain?: string; output?: string }): Promise<void> {
  const clusters = await allPages<Cluster>(clientFromOptions(opts), "v1/clusters", { trustDomain: opts.trustDomain });
  emit(opts.output, clusters, (list) =>
    table(
      ["NAME", "TRUST DOMAIN", "STATUS", "GEN", "SERIAL", "ROTATE AFTER", "NOT AFTER", "LABELS"],
      list.map((c) => [c.name, c.trustDomain, c.status, c.activeIntermediate?.generation, c.activeIntermediate?.serial, c.activeIntermediate?.rotateAfter, c.activeIntermediate?.notAfter, labels(c)]),
      "no clusters",
    ),
  );
}

/** `meshroot cluster show <name>`. */
export async function clusterShowCommand(name: string, opts: ClientOptions & { output?: string }): Promise<void> {
  emit(opts.output, await clientFromOptions(opts).get<Cluster>(`v1/clusters/${encodeURIComponent(name)}`), describe);
}

/** `meshroot cluster decommission <name>`: DELETE /v1/clusters/{name} (revokes its active intermediate, cessationOfOperation). */
export async function clusterDecommissionCommand(name: string, opts: ClientOptions & { output?: string }): Promise<void> {
  const cluster = await clientFromOptions(opts).delete<Cluster>(`v1/clusters/${encodeURIComponent(name)}`);
  emit(opts.output, cluster, (c) => `decommissioned cluster ${c.name}; its intermediate is revoked (cessationOfOperation)\n${describe(c)}`);
}

function describe(c: Cluster): string {
  const a = c.activeIntermediate;
  return fields([
    ["name", c.name],
    ["trust domain", c.trustDomain],
    ["status", c.status],
    ["labels", labels(c)],
    ["policy", `${c.policy.keyAlgorithm}, ${c.policy.validityDays} days, renew ${c.policy.renewBeforeDays === null ? "after two thirds" : `${c.policy.renewBeforeDays} days before expiry`}`],
    ["created", c.createdAt],
    ["decommissioned", c.decommissionedAt],
    ["intermediate", a ? `generation ${a.generation}, serial ${a.serial} (${a.status}, ${a.custody} key)` : null],
    ["rotate after", a?.rotateAfter],
    ["not after", a?.notAfter],
  ]);
}

const labels = (c: Cluster) => Object.entries(c.labels).map(([k, v]) => `${k}=${v}`).join(",");

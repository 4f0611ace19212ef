/** A cluster name is an RFC 1123 DNS label: lowercase letters, digits and '-', 1–63 chars. */
export const CLUSTER_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A trust domain is a lowercase DNS name (SPIFFE trust domain): dot-separated labels, at most
 * 253 characters, e.g. `cluster.local` or `mesh.example.com`.
 */
export const TRUST_DOMAIN_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** A token cluster pattern: a cluster name where `*` stands for any run of characters. */
export const CLUSTER_PATTERN = /^[a-z0-9*]([a-z0-9*-]{0,61}[a-z0-9*])?$/;

/** True when `name` matches the glob `pattern` (only `*` is special). */
export function matchesPattern(name: string, pattern: string): boolean {
  const re = new RegExp(`^${pattern.split("*").map(escapeRegExp).join(".*")}$`);
  return re.test(name);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");
}

/** A cluster name is an RFC 1123 DNS label: lowercase letters, digits and '-', 1–63 chars. */
export const CLUSTER_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * A trust domain is a lowercase DNS name (SPIFFE trust domain): dot-separated labels, at most
 * 253 characters, e.g. `cluster.local` or `mesh.example.com`.
 */
export const TRUST_DOMAIN_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** A token cluster pattern: a cluster name where `*` stands for any run of characters. */
export const CLUSTER_PATTERN = /^[a-z0-9*]([a-z0-9*-]{0,61}[a-z0-9*])?$/;

/**
 * True when `name` matches the glob `pattern` (only `*` is special). Greedy wildcard matching
 * with one backtrack point: O(name × pattern) at worst, never exponential (a regex built from
 * `*a*a*a*a*a*a*b` backtracked for seconds).
 */
export function matchesPattern(name: string, pattern: string): boolean {
  let n = 0;
  let p = 0;
  let star = -1; // position in pattern of the last `*` seen
  let mark = 0; // position in name that `*` is currently matched up to
  while (n < name.length) {
    if (p < pattern.length && pattern[p] !== "*" && pattern[p] === name[n]) {
      n++;
      p++;
    } else if (p < pattern.length && pattern[p] === "*") {
      star = p++;
      mark = n;
    } else if (star >= 0) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}

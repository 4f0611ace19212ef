import { DomainError } from "../errors.js";

/**
 * Kubernetes label selectors over cluster labels: `env=prod`, `env==prod`, `env!=prod`,
 * `tier` (has the label), `!tier` (has not), `env in (prod,staging)`, `env notin (dev)`;
 * requirements separated by commas, all must hold.
 */

type Requirement =
  | { op: "eq" | "ne"; key: string; value: string }
  | { op: "exists" | "absent"; key: string }
  | { op: "in" | "notin"; key: string; values: string[] };

export type LabelSelector = (labels: Record<string, string>) => boolean;

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]{0,61}[a-z0-9A-Z])?$/;
const VALUE = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]{0,61}[a-z0-9A-Z])?)?$/;

function bad(message: string): DomainError {
  return new DomainError("validation_failed", `selector: ${message}`, [{ path: "query.selector", message }]);
}

/** Splits on commas outside parentheses. */
function split(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "(") depth++;
    else if (ch === ")") depth--;
    else if (ch === "," && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
    if (depth < 0 || depth > 1) throw bad("unbalanced parentheses");
  }
  if (depth !== 0) throw bad("unbalanced parentheses");
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

function key(k: string): string {
  if (!KEY.test(k)) throw bad(`'${k}' is not a label key`);
  return k;
}

function value(v: string): string {
  if (!VALUE.test(v)) throw bad(`'${v}' is not a label value`);
  return v;
}

function requirement(part: string): Requirement {
  if (part === "") throw bad("empty requirement (two commas, or a trailing comma)");
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
  if (set) return { op: set[2] as "in" | "notin", key: key(set[1]!), values: set[3]!.split(",").map((v) => value(v.trim())) };
  const cmp = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
  if (cmp) return { op: cmp[2] === "!=" ? "ne" : "eq", key: key(cmp[1]!), value: value(cmp[3]!) };
  if (part.startsWith("!")) return { op: "absent", key: key(part.slice(1).trim()) };
  if (/^\S+$/.test(part)) return { op: "exists", key: key(part) };
  throw bad(`cannot read '${part}' (expected key=value, key!=value, key, !key, key in (a,b) or key notin (a,b))`);
}

function holds(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, r.key);
  const v = labels[r.key];
  switch (r.op) {
    case "eq":
      return has && v === r.value;
    case "ne":
      return !has || v !== r.value;
    case "exists":
      return has;
    case "absent":
      return !has;
    case "in":
      return has && r.values.includes(v!);
    case "notin":
      return !has || !r.values.includes(v!);
  }
}

/** Parses a selector; throws `validation_failed` naming what it cannot read. */
export function parseLabelSelector(text: string): LabelSelector {
  if (text.length > 1024) throw bad("longer than 1,024 characters");
  const reqs = split(text).map(requirement);
  return (labels) => reqs.every((r) => holds(r, labels));
}

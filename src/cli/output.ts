import { InvalidArgumentError } from "commander";
import type { Client } from "./client.js";

// Text output of client-mode commands: aligned tables and `key: value` blocks. JSON output is the
// server's answer itself (client.ts `emit`).

type Cell = string | number | boolean | null | undefined;

/** Left-aligned columns under upper-case headers; `empty` when there are no rows. */
export function table(headers: string[], rows: Cell[][], empty = "(none)"): string {
  if (rows.length === 0) return empty;
  const text = [headers, ...rows.map((r) => r.map(cell))];
  const widths = headers.map((_, i) => Math.max(...text.map((r) => (r[i] ?? "").length)));
  return text.map((r) => r.map((c, i) => (i === r.length - 1 ? c : (c ?? "").padEnd(widths[i]!))).join("  ").trimEnd()).join("\n");
}

/** `key: value` lines, keys aligned; null and undefined values print as "-". */
export function fields(pairs: [string, Cell][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length)) + 1;
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width)} ${cell(v)}`).join("\n");
}

function cell(v: Cell): string {
  if (v === null || v === undefined || v === "") return "-";
  return typeof v === "string" ? shortTime(v) : String(v);
}

/** An RFC 3339 timestamp without its milliseconds (2027-03-01T12:00:00Z); other text unchanged. */
export const shortTime = (s: string): string => (/^\d{4}-\d\d-\d\dT[\d:]+\.\d+Z$/.test(s) ? s.replace(/\.\d+Z$/, "Z") : s);

/** A query string from the defined values (`?a=1&b=x`, or "" when none). */
export function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== false) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Every item of a paged list (GET path?limit=500&cursor=…), following nextCursor to the end. */
export async function allPages<T>(client: Client, path: string, params: Record<string, string | undefined> = {}): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.get<{ items: T[]; nextCursor: string | null }>(`${path}${query({ ...params, limit: 500, cursor })}`);
    items.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return items;
}

/** A commander argument parser for an integer in [min, max]; `suffix` (e.g. "d") may follow the number. */
export function integer(min: number, max: number, suffix = ""): (v: string) => number {
  return (v) => {
    const n = Number(suffix && v.endsWith(suffix) ? v.slice(0, -suffix.length) : v);
    if (!/^\d+$/.test(v.replace(suffix, "")) || !Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`must be a whole number, ${min}-${max}${suffix ? ` (e.g. 90 or 90${suffix})` : ""}`);
    }
    return n;
  };
}

/** A commander collector for repeated `--label key=value` flags. */
export function label(v: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = v.indexOf("=");
  if (at < 1) throw new InvalidArgumentError("must be key=value, e.g. env=prod");
  return { ...previous, [v.slice(0, at)]: v.slice(at + 1) };
}

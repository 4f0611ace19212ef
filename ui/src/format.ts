import type { FleetEntry, TrustState } from "./types.js";

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

/** Worst first: drift, stale, unknown, converged. */
export const TRUST_ORDER: TrustState[] = ["drift", "stale", "unknown", "converged"];

/** A duration as the two largest units: "3 d 4 h", "12 min", "40 s". */
export function duration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  if (d < 365) return h % 24 && d < 10 ? `${d} d ${h % 24} h` : `${d} d`;
  return `${(d / 365).toFixed(1)} y`;
}

/** "in 3 d" or "2 h ago" relative to now; "—" when there is no time. */
export function relative(iso: string | null | undefined, now: number): string {
  if (!iso) return "—";
  const delta = Date.parse(iso) - now;
  return delta >= 0 ? `in ${duration(delta)}` : `${duration(delta)} ago`;
}

/** 2026-12-01 19:58 UTC */
export function stamp(iso: string | null | undefined): string {
  if (!iso) return "—";
  return iso.replace("T", " ").replace(/:\d\d(\.\d+)?Z$/, " UTC");
}

export const day = (iso: string) => iso.slice(0, 10);

/** The fleet sorted worst trust state first, then soonest expiry (none last), then name. */
export function worstFirst(a: FleetEntry, b: FleetEntry): number {
  const s = TRUST_ORDER.indexOf(a.trust.state) - TRUST_ORDER.indexOf(b.trust.state);
  if (s !== 0) return s;
  const ea = a.notAfter ? Date.parse(a.notAfter) : Infinity;
  const eb = b.notAfter ? Date.parse(b.notAfter) : Infinity;
  if (ea !== eb) return ea < eb ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** A fingerprint shortened for a table cell (the full one goes in a title). */
export const shortFp = (fp: string | null | undefined) => (fp ? `${fp.slice(0, 12)}…` : "—");

/** Freshness of a CRL by its nextUpdate, as the trust state derives it (warning within a day). */
export function crlFreshness(nextUpdate: string | null | undefined, now: number): "expired" | "expiring" | "fresh" | "none" {
  if (!nextUpdate) return "none";
  const left = Date.parse(nextUpdate) - now;
  return left <= 0 ? "expired" : left <= DAY ? "expiring" : "fresh";
}
